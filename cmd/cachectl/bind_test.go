package main

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

func TestApplyPolicyDefaults(t *testing.T) {
	p := policy.Default()
	p.Daemon = policy.Daemon{MemoryLimitMB: 256, MaxConnections: 50, Threads: 2, MaxItemSize: 2 << 20}
	p.Bind.Port = 11300
	tests := []struct {
		name string
		args []string
		want daemon.Flags
	}{
		{"policy fills every unset flag", nil,
			daemon.Flags{MemoryLimit: "256", MaxConns: 50, Threads: 2, MaxItemSize: "2m", Port: 11300}},
		{"given flags win", []string{"-m", "32", "-c", "9", "-t", "1", "-I", "4m", "-p", "12000"},
			daemon.Flags{MemoryLimit: "32", MaxConns: 9, Threads: 1, MaxItemSize: "4m", Port: 12000}},
		{"long and short names count alike", []string{"--memory-limit=16", "--port", "11211"},
			daemon.Flags{MemoryLimit: "16", MaxConns: 50, Threads: 2, MaxItemSize: "2m", Port: 11211}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("bind", pflag.ContinueOnError)
			var f daemon.Flags
			f.Register(fs, daemon.NoListen)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			applyPolicyDefaults(fs, &f, p)
			got := daemon.Flags{MemoryLimit: f.MemoryLimit, MaxConns: f.MaxConns, Threads: f.Threads, MaxItemSize: f.MaxItemSize, Port: f.Port}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if _, err := f.Config(); err != nil {
				t.Errorf("config from the merged flags: %v", err)
			}
		})
	}
}

func TestBindRegistersNoListenFlag(t *testing.T) {
	cmd := newBindCmd(&app{getenv: func(string) string { return "" }})
	if cmd.Flags().Lookup("listen") != nil {
		t.Error("bind has -l/--listen; it takes --iface/--addr instead")
	}
	if f := cmd.Flags().Lookup("port"); f == nil || f.Shorthand != "p" {
		t.Errorf("bind's --port should be the daemon's -p flag, got %+v", f)
	}
}

func TestBindRequest(t *testing.T) {
	recorded := policy.Bind{Interfaces: []string{"eth0"}, Addresses: []netip.Addr{netip.MustParseAddr("fe80::1%eth1")}, Port: 11211}
	tests := []struct {
		name          string
		ifaces, addrs []string
		want          netinfo.Request
	}{
		{"flags win", []string{"br0"}, nil, netinfo.Request{Interfaces: []string{"br0"}, Port: 11300}},
		{"addr alone wins", nil, []string{"10.0.0.5"}, netinfo.Request{Addrs: []string{"10.0.0.5"}, Port: 11300}},
		{"nothing given: the recorded binding", nil, nil,
			netinfo.Request{Interfaces: []string{"eth0"}, Addrs: []string{"fe80::1%eth1"}, Port: 11300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bindRequest(tt.ifaces, tt.addrs, netinfo.FamilyAny, 11300, recorded)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRecordBinding(t *testing.T) {
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	tests := []struct {
		name      string
		before    policy.Bind
		req       netinfo.Request
		want      policy.Bind
		unchanged bool
	}{
		{"fresh policy gets the binding",
			policy.Bind{Port: 11211},
			netinfo.Request{Interfaces: []string{"br0"}, Addrs: []string{"[fd00::5]", "10.0.0.5"}, Port: 11300},
			policy.Bind{Interfaces: []string{"br0"}, Addresses: addrs("fd00::5", "10.0.0.5"), Port: 11300}, false},
		{"same binding is not rewritten",
			policy.Bind{Interfaces: []string{"br0"}, Port: 11300},
			netinfo.Request{Interfaces: []string{"br0"}, Port: 11300},
			policy.Bind{Interfaces: []string{"br0"}, Port: 11300}, true},
		{"wildcards and repeats are not recorded; udp port kept",
			policy.Bind{Port: 11211, UDPPort: 11211},
			netinfo.Request{Interfaces: []string{"br0", "br0"}, Addrs: []string{"0.0.0.0", "::", "fe80::1%br0", "fe80::1%br0"}, Port: 11211},
			policy.Bind{Interfaces: []string{"br0"}, Addresses: addrs("fe80::1%br0"), Port: 11211, UDPPort: 11211}, false},
		{"a new port replaces the old binding",
			policy.Bind{Interfaces: []string{"eth0"}, Addresses: addrs("10.0.0.5"), Port: 11211},
			netinfo.Request{Interfaces: []string{"eth0"}, Port: 11212},
			policy.Bind{Interfaces: []string{"eth0"}, Port: 11212}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy.Default()
			p.Bind = tt.before
			err := recordBinding(p, tt.req, tt.want.UDPPort)
			if tt.unchanged != errors.Is(err, policy.ErrUnchanged) || (!tt.unchanged && err != nil) {
				t.Fatalf("err = %v, unchanged want %v", err, tt.unchanged)
			}
			if !reflect.DeepEqual(p.Bind, tt.want) {
				t.Errorf("bind = %+v, want %+v", p.Bind, tt.want)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("recorded binding does not validate: %v", err)
			}
		})
	}
}

func TestListenArgs(t *testing.T) {
	got := listenArgs([]netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.5:11211"),
		netip.MustParseAddrPort("[fd00::5]:11211"),
		netip.AddrPortFrom(netip.MustParseAddr("fe80::1%br0"), 11211),
		netip.MustParseAddrPort("[::]:11211"),
	})
	want := []string{"10.0.0.5:11211", "[fd00::5]:11211", "[fe80::1%br0]:11211", "[::]:11211"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestListenRefusalExitCodes(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.9")
	tests := []struct {
		err  error
		code int
	}{
		{&netinfo.UnknownInterfaceError{Name: "eth9"}, exitUsage},
		{&netinfo.InterfaceDownError{Name: "eth0"}, exitUsage},
		{&netinfo.NoUsableAddressError{Interface: "eth0"}, exitUsage},
		{&netinfo.NotLocalError{Addr: a}, exitUsage},
		{&netinfo.ZoneRequiredError{Addr: netip.MustParseAddr("fe80::1")}, exitUsage},
		{&netinfo.TentativeError{Addr: netip.MustParseAddr("fd00::7"), Interface: "eth0"}, exitUsage},
		{&netinfo.WaitError{Err: &netinfo.NotLocalError{Addr: a}}, exitUsage},
		{errors.New("netlink: permission denied"), exitFailure},
	}
	for _, tt := range tests {
		got := listenRefusal(tt.err)
		if exitCode(got) != tt.code {
			t.Errorf("%T: exit %d, want %d", tt.err, exitCode(got), tt.code)
		}
		if !strings.Contains(got.Error(), tt.err.Error()) {
			t.Errorf("%T: message %q lost netinfo's explanation %q", tt.err, got, tt.err)
		}
	}
	if listenRefusal(nil) != nil {
		t.Error("nil error became an error")
	}
}

func TestAnnouncePeers(t *testing.T) {
	fresh := policy.Default()
	open := policy.Default()
	open.Allow(netip.MustParsePrefix("0.0.0.0/0"), "", zeroTime)
	open.Reindex()
	some := policy.Default()
	some.Peers.AllowLoopback = false
	some.Allow(netip.MustParsePrefix("10.213.0.10/32"), "", zeroTime)
	some.Reindex()
	none := policy.Default()
	none.Peers.AllowLoopback = false
	open6 := policy.Default()
	open6.Allow(netip.MustParsePrefix("::/0"), "", zeroTime)
	open6.Reindex()
	one := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.5:11211")}
	any := []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:11211")}
	any6 := []netip.AddrPort{netip.MustParseAddrPort("[::]:11211")}
	tests := []struct {
		name   string
		p      *policy.Policy
		bound  []netip.AddrPort
		want   []string
		absent []string
	}{
		{"fresh: loopback only", fresh, one, []string{"loopback only", "denied_connections in 'stats cachectl'", "cachectl allow ADDR --policy /p.yaml"}, []string{"WARNING"}},
		{"entries listed", some, one, []string{"): 10.213.0.10/32\n"}, []string{"loopback", "WARNING"}},
		{"nobody", none, one, []string{"nobody"}, nil},
		{"wildcard with everyone allowed warns", open, any, []string{"WARNING: listening on every local address", "0.0.0.0/0", "cachectl revoke 0.0.0.0/0"}, nil},
		{"wildcard with a narrow policy does not warn", fresh, any, nil, []string{"WARNING"}},
		{"everyone allowed on one address does not warn here", open, one, nil, []string{"WARNING"}},
		// Each wildcard serves its own family only (0.0.0.0 is AF_INET, :: is
		// IPV6_V6ONLY), so only an allow-all of that family opens it to all.
		{"IPv6 wildcard with every IPv6 peer allowed warns", open6, any6, []string{"WARNING: listening on every local address", "::/0"}, nil},
		{"IPv4 wildcard with only ::/0 allowed does not warn", open6, any, nil, []string{"WARNING"}},
		{"IPv6 wildcard with only 0.0.0.0/0 allowed does not warn", open, any6, nil, []string{"WARNING"}},
		{"both wildcards warn for the open family", open6, append(any, any6...), []string{"::/0"}, []string{"0.0.0.0/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			announcePeers(&b, "/p.yaml", tt.p, tt.bound)
			mustContain(t, "notice", b.String(), tt.want...)
			for _, s := range tt.absent {
				if strings.Contains(b.String(), s) {
					t.Errorf("notice contains %q:\n%s", s, b.String())
				}
			}
		})
	}
}

// Refusals that need no namespace: the real host's snapshot has no such
// interface, so bind must stop before listening and before writing.
func TestBindRefusesBeforeWriting(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown interface", []string{"--iface", "nosuch0"}, `no interface named "nosuch0"`},
		{"zoneless link-local", []string{"--addr", "fe80::1"}, "needs the interface it is on"},
		{"hostname", []string{"--addr", "db.example.com"}, "host names are not accepted"},
		{"bad family", []string{"--iface", "lo", "--family", "7"}, "unknown address family"},
		{"port 0", []string{"--iface", "lo", "-p", "0"}, "-p 0"},
		{"no binding anywhere", nil, "no listen address given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := policyPath(t)
			code, _, errOut := cli(t, append([]string{"bind", "--policy", f}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d: %s", code, exitUsage, errOut)
			}
			mustContain(t, "stderr", errOut, tt.want)
			if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("policy file written on refusal: %v", err)
			}
		})
	}
}

var zeroTime = time.Time{}

func TestBindRefusesABrokenPolicy(t *testing.T) {
	f := policyPath(t)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	broken := []byte("version: 1\nbind:\n  prot: 11211\n")
	if err := os.WriteFile(f, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, "bind", "--iface", "lo", "--policy", f)
	if code != exitUsage {
		t.Errorf("exit %d, want %d: %s", code, exitUsage, errOut)
	}
	mustContain(t, "stderr", errOut, "prot", "the policy file was not changed")
	if got, _ := os.ReadFile(f); !bytes.Equal(got, broken) {
		t.Errorf("broken policy overwritten:\n%s", got)
	}
}
