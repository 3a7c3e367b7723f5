package netinfo

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// host is a literal snapshot covering every case the judge distinguishes.
func host() Snapshot {
	return Snapshot{Interfaces: []Interface{
		{Name: "lo", Index: 1, Kind: "device", AdminUp: true, OperState: "unknown", Loopback: true, Addrs: []Address{
			addr("127.0.0.1/8", "", ScopeHost),
			addr("::1/128", "", ScopeHost),
		}},
		{Name: "eth0", Index: 2, Kind: "device", AdminUp: true, OperState: "up", Addrs: []Address{
			addr("10.0.0.5/24", "", ScopeGlobal),
			with(addr("10.0.0.6/24", "", ScopeGlobal), func(a *Address) { a.Secondary = true }),
			addr("fd00::5/64", "", ScopeGlobal),
			with(addr("fd00::7/64", "", ScopeGlobal), func(a *Address) { a.Tentative = true }),
			with(addr("fd00::8/64", "", ScopeGlobal), func(a *Address) { a.Tentative, a.DADFailed = true, true }),
			with(addr("fd00::9/64", "", ScopeGlobal), func(a *Address) { a.Tentative, a.Optimistic = true, true }),
			addr("fe80::1/64", "eth0", ScopeLink),
		}},
		{Name: "eth1", Index: 3, Kind: "device", AdminUp: true, OperState: "up", Addrs: []Address{
			addr("fe80::1/64", "eth1", ScopeLink), // same link-local as eth0: only the zone tells them apart
			addr("fe80::2/64", "eth1", ScopeLink),
		}},
		{Name: "v6only", Index: 4, Kind: "veth", AdminUp: true, OperState: "up", Addrs: []Address{
			addr("2001:db8::1/64", "", ScopeGlobal),
			addr("fe80::4/64", "v6only", ScopeLink),
		}},
		{Name: "down0", Index: 5, Kind: "dummy", AdminUp: false, OperState: "down", Addrs: []Address{
			addr("192.168.9.1/24", "", ScopeGlobal),
		}},
		{Name: "nocarrier", Index: 6, Kind: "veth", AdminUp: true, OperState: "lowerlayerdown", Addrs: []Address{
			addr("192.168.8.1/24", "", ScopeGlobal),
		}},
		{Name: "dad", Index: 7, Kind: "veth", AdminUp: true, OperState: "up", Addrs: []Address{
			with(addr("fd00:d::1/64", "", ScopeGlobal), func(a *Address) { a.Tentative = true }),
		}},
		{Name: "empty", Index: 8, Kind: "veth", AdminUp: true, OperState: "up"},
	}}
}

func addr(p, zone string, sc Scope) Address {
	pp := netip.MustParsePrefix(p)
	a := pp.Addr()
	if zone != "" {
		a = a.WithZone(zone)
	}
	return Address{Prefix: pp, Addr: a, Scope: sc, Permanent: true}
}

func with(a Address, f func(*Address)) Address { f(&a); return a }

func aps(port uint16, addrs ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(netip.MustParseAddr(a), port))
	}
	return out
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want []netip.AddrPort
		err  any    // pointer to the error type expected, nil for success
		msg  string // a fragment the message must contain
		bad  bool   // IsBadRequest
	}{
		{name: "ipv4 address", req: Request{Addrs: []string{"10.0.0.5"}, Port: 11211}, want: aps(11211, "10.0.0.5")},
		{name: "secondary ipv4", req: Request{Addrs: []string{"10.0.0.6"}}, want: aps(0, "10.0.0.6")},
		{name: "ipv6 global bracketed", req: Request{Addrs: []string{"[fd00::5]"}, Port: 1}, want: aps(1, "fd00::5")},
		{name: "optimistic counts as usable", req: Request{Addrs: []string{"fd00::9"}}, want: aps(0, "fd00::9")},
		{name: "link-local with zone", req: Request{Addrs: []string{"fe80::1%eth1"}}, want: aps(0, "fe80::1%eth1")},
		{name: "link-local numeric zone", req: Request{Addrs: []string{"[fe80::2%3]"}}, want: aps(0, "fe80::2%eth1")},
		{name: "loopback subnet is local", req: Request{Addrs: []string{"127.0.0.2"}}, want: aps(0, "127.0.0.2")},
		{name: "wildcards explicit", req: Request{Addrs: []string{"0.0.0.0", "::"}, Port: 5}, want: aps(5, "0.0.0.0", "::")},
		{name: "ipv4-mapped taken as ipv4", req: Request{Addrs: []string{"::ffff:10.0.0.5"}}, want: aps(0, "10.0.0.5")},
		{name: "iface all families, link-local left out", req: Request{Interfaces: []string{"eth0"}, Port: 7},
			want: aps(7, "10.0.0.5", "10.0.0.6", "fd00::5", "fd00::9")},
		{name: "iface v4 only", req: Request{Interfaces: []string{"eth0"}, Family: IPv4}, want: aps(0, "10.0.0.5", "10.0.0.6")},
		{name: "iface v6 only", req: Request{Interfaces: []string{"eth0"}, Family: IPv6}, want: aps(0, "fd00::5", "fd00::9")},
		{name: "iface with only link-local gets zones", req: Request{Interfaces: []string{"eth1"}}, want: aps(0, "fe80::1%eth1", "fe80::2%eth1")},
		{name: "iface by index", req: Request{Interfaces: []string{"4"}, Family: IPv6}, want: aps(0, "2001:db8::1")},
		{name: "loopback iface", req: Request{Interfaces: []string{"lo"}}, want: aps(0, "127.0.0.1", "::1")},
		{name: "dedupe across iface and addr", req: Request{Interfaces: []string{"lo", "lo"}, Addrs: []string{"::1", "127.0.0.1", "10.0.0.5", "10.0.0.5"}},
			want: aps(0, "127.0.0.1", "::1", "10.0.0.5")},

		{name: "nothing asked", req: Request{}, err: &ErrNothingToListen, msg: "--iface", bad: true},
		{name: "not local", req: Request{Addrs: []string{"10.0.0.1"}}, err: new(*NotLocalError), msg: "cachectl allow 10.0.0.1", bad: true},
		{name: "not local ipv6", req: Request{Addrs: []string{"fd00::99"}}, err: new(*NotLocalError), msg: "LOCAL", bad: true},
		{name: "ipv6 loopback subnet is not local", req: Request{Addrs: []string{"::2"}}, err: new(*NotLocalError), bad: true},
		{name: "link-local without zone", req: Request{Addrs: []string{"fe80::1"}}, err: new(*ZoneRequiredError), msg: "fe80::1%eth0 or fe80::1%eth1", bad: true},
		{name: "link-local unknown zone", req: Request{Addrs: []string{"fe80::1%wlan9"}}, err: new(*ZoneRequiredError), msg: "names no interface", bad: true},
		{name: "link-local on the wrong interface", req: Request{Addrs: []string{"fe80::2%eth0"}}, err: new(*NotLocalError), bad: true},
		{name: "zone on global address", req: Request{Addrs: []string{"fd00::5%eth0"}}, err: new(*InvalidAddressError), msg: "drop %eth0", bad: true},
		{name: "zone on wildcard", req: Request{Addrs: []string{"::%eth0"}}, err: new(*InvalidAddressError), msg: "--iface eth0", bad: true},
		{name: "tentative", req: Request{Addrs: []string{"fd00::7"}}, err: new(*TentativeError), msg: "--wait"},
		{name: "dad failed", req: Request{Addrs: []string{"fd00::8"}}, err: new(*TentativeError), msg: "failed duplicate address detection"},
		{name: "address on down interface", req: Request{Addrs: []string{"192.168.9.1"}}, err: new(*InterfaceDownError), msg: "ip link set down0 up"},
		{name: "address on interface without carrier", req: Request{Addrs: []string{"192.168.8.1"}}, err: new(*InterfaceDownError), msg: "no carrier"},
		{name: "unknown interface", req: Request{Interfaces: []string{"eth9"}}, err: new(*UnknownInterfaceError), msg: "lo, eth0, eth1", bad: true},
		{name: "down interface", req: Request{Interfaces: []string{"down0"}}, err: new(*InterfaceDownError), msg: "--wait"},
		{name: "only ipv6 when ipv4 asked", req: Request{Interfaces: []string{"v6only"}, Family: IPv4}, err: new(*NoUsableAddressError), msg: "2001:db8::1/64", bad: true},
		{name: "interface without addresses", req: Request{Interfaces: []string{"empty"}}, err: new(*NoUsableAddressError), msg: "has: none", bad: true},
		{name: "interface still in DAD", req: Request{Interfaces: []string{"dad"}}, err: new(*TentativeError), msg: "tentative"},
		{name: "family mismatch", req: Request{Addrs: []string{"::1"}, Family: IPv4}, err: new(*InvalidAddressError), msg: "--family ipv4", bad: true},
		{name: "hostname", req: Request{Addrs: []string{"cache.example.com"}}, err: new(*InvalidAddressError), msg: "host names", bad: true},
		{name: "garbage", req: Request{Addrs: []string{"10.0.0.300"}}, err: new(*InvalidAddressError), msg: "not an IP address", bad: true},
		{name: "port in address", req: Request{Addrs: []string{"10.0.0.5:11211"}}, err: new(*InvalidAddressError), msg: "--port", bad: true},
		{name: "port in bracketed address", req: Request{Addrs: []string{"[::1]:11211"}}, err: new(*InvalidAddressError), msg: "--port", bad: true},
		{name: "unclosed bracket", req: Request{Addrs: []string{"[::1"}}, err: new(*InvalidAddressError), msg: "']'", bad: true},
		{name: "empty address", req: Request{Addrs: []string{" "}}, err: new(*InvalidAddressError), msg: "empty", bad: true},
		{name: "multicast", req: Request{Addrs: []string{"ff02::1"}}, err: new(*InvalidAddressError), msg: "multicast", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(host(), tt.req)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Resolve(%+v) = error %v", tt.req, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("Resolve(%+v) = %v, want %v", tt.req, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve(%+v) = %v, want an error", tt.req, got)
			}
			if sentinel, ok := tt.err.(*error); ok {
				if !errors.Is(err, *sentinel) {
					t.Fatalf("error %v, want %v", err, *sentinel)
				}
			} else if !errors.As(err, tt.err) {
				t.Fatalf("error %T (%v), want %T", err, err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q lacks %q", err, tt.msg)
			}
			if IsBadRequest(err) != tt.bad {
				t.Errorf("IsBadRequest(%v) = %v, want %v", err, !tt.bad, tt.bad)
			}
		})
	}
}

func TestNotLocalErrorListsLocalAddresses(t *testing.T) {
	err := CheckListen(host(), netip.MustParseAddr("10.0.0.1"))
	var nl *NotLocalError
	if !errors.As(err, &nl) {
		t.Fatalf("CheckListen = %v, want NotLocalError", err)
	}
	want := []netip.Addr{}
	for _, s := range []string{"10.0.0.5", "10.0.0.6", "127.0.0.1", "::1", "2001:db8::1", "fd00::5", "fd00::9",
		"fe80::1%eth0", "fe80::1%eth1", "fe80::2%eth1", "fe80::4%v6only"} {
		want = append(want, netip.MustParseAddr(s))
	}
	if !reflect.DeepEqual(nl.Local, want) {
		t.Errorf("Local = %v, want %v", nl.Local, want)
	}
	for _, frag := range []string{"ip_nonlocal_bind", "Cannot assign requested address", "10.0.0.5, 10.0.0.6"} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("message lacks %q: %s", frag, err)
		}
	}
}

func TestCheckListenErrorsCarryDetail(t *testing.T) {
	s := host()
	var z *ZoneRequiredError
	if err := CheckListen(s, netip.MustParseAddr("fe80::4")); !errors.As(err, &z) || !reflect.DeepEqual(z.Interfaces, []string{"v6only"}) {
		t.Errorf("fe80::4 without zone: %v, want ZoneRequiredError naming v6only", err)
	}
	var te *TentativeError
	if err := CheckListen(s, netip.MustParseAddr("fd00::8")); !errors.As(err, &te) || !te.DADFailed || te.Interface != "eth0" {
		t.Errorf("fd00::8: %v, want DAD failure on eth0", err)
	}
	var down *InterfaceDownError
	if err := CheckListen(s, netip.MustParseAddr("192.168.9.1")); !errors.As(err, &down) || down.Name != "down0" || down.Addr.String() != "192.168.9.1" {
		t.Errorf("192.168.9.1: %v, want InterfaceDownError for down0", err)
	}
}

func TestParseFamily(t *testing.T) {
	for in, want := range map[string]Family{"": FamilyAny, "any": FamilyAny, "4": IPv4, "ipv4": IPv4, "v6": IPv6, "IPv6": IPv6} {
		if got, err := ParseFamily(in); err != nil || got != want {
			t.Errorf("ParseFamily(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseFamily("ipx"); err == nil {
		t.Error("ParseFamily(ipx) accepted")
	}
}

func TestSnapshotSortIsDeterministic(t *testing.T) {
	s := host()
	rev := Snapshot{}
	for i := len(s.Interfaces) - 1; i >= 0; i-- {
		ifc := s.Interfaces[i]
		ifc.Addrs = append([]Address(nil), ifc.Addrs...)
		for l, r := 0, len(ifc.Addrs)-1; l < r; l, r = l+1, r-1 {
			ifc.Addrs[l], ifc.Addrs[r] = ifc.Addrs[r], ifc.Addrs[l]
		}
		rev.Interfaces = append(rev.Interfaces, ifc)
	}
	rev.Sort()
	s.Sort()
	if !reflect.DeepEqual(rev, s) {
		t.Errorf("sorting a reversed snapshot gave\n%+v\nwant\n%+v", rev, s)
	}
}
