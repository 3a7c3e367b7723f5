package netinfo

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"syscall"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// testHost builds a namespace whose links and addresses are fully known:
// automatic IPv6 link-local generation is off so only what the test adds
// exists.
//
//	ni0 veth up: 10.213.7.1/24, fd00:7::1/64, fe80::7:1/64 (nodad), and
//	             fd00:7::99/64 added with DAD, held tentative by a 30 s
//	             retransmit timer
//	ni1 veth up (ni0's peer), no addresses
//	nd0 bridge left down: 10.213.8.1/24
func testHost(t *testing.T) *nstest.NS {
	t.Helper()
	ns := nstest.New(t)
	ns.MustRun("ip", "link", "add", "ni0", "type", "veth", "peer", "name", "ni1")
	ns.MustRun("ip", "link", "add", "nd0", "type", "bridge")
	for _, l := range []string{"ni0", "ni1", "nd0"} {
		ns.MustRun("ip", "link", "set", l, "addrgenmode", "none")
	}
	ns.AddAddrs("ni0", pfx("10.213.7.1/24"), pfx("fd00:7::1/64"), pfx("fe80::7:1/64"))
	ns.AddAddrs("nd0", pfx("10.213.8.1/24"))
	ns.MustRun("sysctl", "-q", "-w", "net.ipv6.neigh.ni0.retrans_time_ms=30000")
	ns.MustRun("ip", "link", "set", "ni1", "up")
	ns.MustRun("ip", "link", "set", "ni0", "up")
	ns.MustRun("ip", "addr", "add", "fd00:7::99/64", "dev", "ni0") // with DAD
	return ns
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestGatherInSeesTheNamespace(t *testing.T) {
	t.Parallel()
	ns := testHost(t)
	got, err := GatherIn(ns.Handle())
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for _, ifc := range got.Interfaces {
		index[ifc.Name] = ifc.Index
	}
	perm := func(a Address) Address { a.Permanent = true; return a }
	want := Snapshot{Interfaces: []Interface{
		{Name: "lo", Index: index["lo"], Kind: "device", AdminUp: true, OperState: "unknown", Loopback: true, Addrs: []Address{
			perm(addr("127.0.0.1/8", "", ScopeHost)), perm(addr("::1/128", "", ScopeHost)),
		}},
		{Name: "ni0", Index: index["ni0"], Kind: "veth", AdminUp: true, OperState: "up", Addrs: []Address{
			addr("10.213.7.1/24", "", ScopeGlobal),
			addr("fd00:7::1/64", "", ScopeGlobal),
			with(addr("fd00:7::99/64", "", ScopeGlobal), func(a *Address) { a.Tentative = true }),
			addr("fe80::7:1/64", "ni0", ScopeLink),
		}},
		{Name: "ni1", Index: index["ni1"], Kind: "veth", AdminUp: true, OperState: "up"},
		{Name: "nd0", Index: index["nd0"], Kind: "bridge", AdminUp: false, OperState: "down", Addrs: []Address{
			addr("10.213.8.1/24", "", ScopeGlobal),
		}},
	}}
	want.Sort()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GatherIn:\n got %+v\nwant %+v", got, want)
	}
}

// TestValidationMatchesBind shows that what CheckListen accepts really binds
// in the namespace and what it refuses as not local, tentative or zoneless
// really fails with the errno memcached would have printed.
func TestValidationMatchesBind(t *testing.T) {
	t.Parallel()
	ns := testHost(t)
	s, err := GatherIn(ns.Handle())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := Resolve(s, Request{Interfaces: []string{"ni0"}, Addrs: []string{"127.0.0.2", "::1", "fe80::7:1%ni0", "0.0.0.0"}})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	refused := []struct {
		addr  string
		as    any
		errno syscall.Errno
	}{
		{"10.213.7.2", new(*NotLocalError), syscall.EADDRNOTAVAIL},  // the peer's address: the classic mistake
		{"fd00:7::2", new(*NotLocalError), syscall.EADDRNOTAVAIL},   // same for IPv6
		{"::2", new(*NotLocalError), syscall.EADDRNOTAVAIL},         // no loopback-subnet rule for IPv6
		{"fd00:7::99", new(*TentativeError), syscall.EADDRNOTAVAIL}, // DAD still running
		{"fe80::7:1", new(*ZoneRequiredError), syscall.EINVAL},      // link-local without zone
	}
	err = ns.Do(func() error {
		for _, ap := range accepted {
			l, err := net.Listen("tcp", ap.String())
			if err != nil {
				t.Errorf("Resolve accepted %s but bind failed: %v", ap, err)
				continue
			}
			l.Close()
		}
		for _, r := range refused {
			a := netip.MustParseAddr(r.addr)
			if err := CheckListen(s, a); !errors.As(err, r.as) {
				t.Errorf("CheckListen(%s) = %v, want %T", a, err, r.as)
			}
			l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
			if err == nil {
				l.Close()
				t.Errorf("CheckListen refused %s but the kernel let it bind", a)
			} else if !errors.Is(err, r.errno) {
				t.Errorf("bind %s: %v, want %v", a, err, r.errno)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(accepted) != 6 {
		t.Errorf("Resolve accepted %v, want ni0's 10.213.7.1 and fd00:7::1 plus four addresses", accepted)
	}
}
