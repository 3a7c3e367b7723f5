package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
	"github.com/cachectl/cachectl/policy"
)

// Every verdict explain gives is checked here against a host set up for
// real in network namespaces: the daemon runs, the firewall is loaded,
// the client really connects (or fails to), and explain, run inside the
// server's namespace, must say why.

const explainPort = 11411

// explainStar is a server with two clients on a bridge and a policy that
// binds the bridge, allows the given peers and manages the firewall.
func explainStar(t *testing.T, allow ...netip.Prefix) (*nstest.Star, string) {
	t.Helper()
	nstest.RequireRoot(t, "iptables", "iptables-restore", "ipset")
	star := nstest.NewStar(t, 2)
	f := filepath.Join(t.TempDir(), "policy.yaml")
	editPolicy(t, f, func(p *policy.Policy) {
		p.Bind = policy.Bind{Interfaces: []string{star.Bridge}, Port: explainPort}
		p.Firewall.Managed = true
		for _, a := range allow {
			p.Allow(a, "test peer", time.Now())
		}
	})
	return star, f
}

func editPolicy(t *testing.T, f string, fn func(*policy.Policy)) {
	t.Helper()
	if _, err := policy.Edit(f, func(p *policy.Policy) error { fn(p); return nil }); err != nil {
		t.Fatal(err)
	}
}

func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// explainIn runs explain inside ns and decodes its JSON.
func explainIn(t *testing.T, ns *nstest.NS, peer netip.Addr, f string) explanation {
	t.Helper()
	out := mustCachectl(t, ns, "explain", peer.String(), "--policy", f, "--json")
	var e explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("explain output: %v:\n%s", err, out)
	}
	return e
}

func wantVerdict(t *testing.T, e explanation, code, command string) {
	t.Helper()
	if e.Verdict.Code != code || !strings.Contains(e.Verdict.Command, command) {
		js, _ := json.MarshalIndent(e, "", "  ")
		t.Fatalf("verdict %+v; want %s with a command containing %q\n%s", e.Verdict, code, command, js)
	}
}

// connectFrom dials addr from ns, optionally from a given source address.
func connectFrom(ns *nstest.NS, src netip.Addr, addr netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: 2 * time.Second}
		if src.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		}
		var err error
		c, err = d.Dial("tcp", addr.String())
		return err
	})
	return c, err
}

func TestExplainAllowedAndConnected(t *testing.T) {
	star, f := explainStar(t)
	srv, c0 := star.Server, star.Clients[0]
	mustCachectl(t, srv, "allow", star.Client4[0].String(), "--policy", f)
	startCachectl(t, srv, "bind", "--policy", f)
	v4 := netip.AddrPortFrom(star.Addr4, explainPort)
	c0.WaitListening(v4, 10*time.Second)
	live, err := dialMC(c0, v4)
	if err != nil {
		t.Fatal(err)
	}
	defer live.nc.Close()
	if _, err := live.call("version\r\n", "VERSION"); err != nil {
		t.Fatal(err)
	}

	e := explainIn(t, srv, star.Client4[0], f)
	wantVerdict(t, e, canConnect, "cachectl revoke "+host(star.Client4[0]).String())
	if e.Firewall.TCP == nil || e.Firewall.TCP.Chain != "CACHECTL-P11411" || e.Firewall.TCP.Counters.Packets == 0 {
		t.Errorf("firewall decision %+v, want cachectl's allow rule with its counted packets", e.Firewall.TCP)
	}
	if !e.Daemon.Running || !e.Daemon.Admits || e.Reach.ListenFrom != "daemon" {
		t.Errorf("daemon %+v, reach %+v; want the running daemon admitting the peer", e.Daemon, e.Reach)
	}
	if !slices.ContainsFunc(e.Conntrack.Flows, func(f peerFlow) bool {
		return f.State == "ESTABLISHED" && f.From == live.nc.LocalAddr().(*net.TCPAddr).AddrPort()
	}) {
		t.Errorf("conntrack %+v, want the live connection ESTABLISHED", e.Conntrack)
	}

	// The same from outside the namespace, through --netns.
	var out, errOut bytes.Buffer
	code := run([]string{"explain", star.Client4[0].String(), "--policy", f, "--netns", srv.Name, "--json"}, strings.NewReader(""), &out, &errOut)
	var viaFlag explanation
	if code != exitOK || json.Unmarshal(out.Bytes(), &viaFlag) != nil || viaFlag.Verdict.Code != canConnect || !viaFlag.Daemon.Running {
		t.Errorf("explain --netns: exit %d, %s, %s", code, out.String(), errOut.String())
	}
}

func TestExplainRefusedByTheFirewall(t *testing.T) {
	star, f := explainStar(t, host(star0(t)))
	srv, c1 := star.Server, star.Clients[1]
	mustCachectl(t, srv, "apply", "--policy", f)
	startCachectl(t, srv, "bind", "--policy", f)
	v4 := netip.AddrPortFrom(star.Addr4, explainPort)
	star.Clients[0].WaitListening(v4, 10*time.Second)
	if _, err := connectFrom(c1, netip.Addr{}, v4); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("client 1 connecting: %v, want refused by the firewall's reset", err)
	}
	e := explainIn(t, srv, star.Client4[1], f)
	wantVerdict(t, e, refusedByFirewall, "cachectl allow "+star.Client4[1].String())
	if d := e.Firewall.TCP; d.Chain != "CACHECTL-P11411" || d.Counters.Packets == 0 || !strings.Contains(d.Text, "default reject") {
		t.Errorf("deciding rule %+v, want the default reject with the attempt counted", d)
	}
}

// star0 is the address NewStar gives its first client.
func star0(*testing.T) netip.Addr { return netip.MustParseAddr("10.213.0.10") }

func TestExplainAllowedButNotApplied(t *testing.T) {
	star, f := explainStar(t)
	srv, c0 := star.Server, star.Clients[0]
	mustCachectl(t, srv, "apply", "--policy", f)
	startCachectl(t, srv, "bind", "--policy", f)
	// Edited while cachectl did not manage the firewall: nothing re-applied it.
	editPolicy(t, f, func(p *policy.Policy) {
		p.Firewall.Managed = false
		p.Allow(host(star.Client4[0]), "app", time.Now())
	})
	v4 := netip.AddrPortFrom(star.Addr4, explainPort)
	waitFor(t, 10*time.Second, "the daemon to reload", func() bool {
		e := explainIn(t, srv, star.Client4[0], f)
		return e.Daemon.Admits
	})
	if _, err := connectFrom(c0, netip.Addr{}, v4); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("client 0 connecting: %v, want refused by the old rules", err)
	}
	wantVerdict(t, explainIn(t, srv, star.Client4[0], f), notApplied, "cachectl apply")
}

// TestExplainDaemonAllowlistStale: the daemon reads its policy through a
// symlink in another directory, so its file watch misses an allow made
// on the real file; the firewall has the peer, the daemon does not.
func TestExplainDaemonAllowlistStale(t *testing.T) {
	star, real := explainStar(t)
	srv, c0 := star.Server, star.Clients[0]
	link := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	d := startCachectl(t, srv, "bind", "--policy", link)
	v4 := netip.AddrPortFrom(star.Addr4, explainPort)
	// From the server itself: bind applies the managed firewall before it
	// listens, and that still refuses client 0.
	srv.WaitListening(v4, 10*time.Second)
	mustCachectl(t, srv, "allow", star.Client4[0].String(), "--policy", real) // re-applies the firewall
	time.Sleep(300 * time.Millisecond)
	requireDenied(t, c0, v4)

	e := explainIn(t, srv, star.Client4[0], real)
	wantVerdict(t, e, closedByDaemon, fmt.Sprintf("kill -HUP %d", d.cmd.Process.Pid))
	if e.Daemon.Denied == 0 || e.Daemon.LastDenied.IsZero() {
		t.Errorf("daemon %+v, want the refused connection counted for the peer", e.Daemon)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "admission after SIGHUP", func() bool { return admitted(c0, v4) })
	wantVerdict(t, explainIn(t, srv, star.Client4[0], real), canConnect, "cachectl revoke")
}

func TestExplainDaemonOnLoopbackOnly(t *testing.T) {
	star, f := explainStar(t, host(star0(t)))
	srv, c0 := star.Server, star.Clients[0]
	mustCachectl(t, srv, "apply", "--policy", f)
	startCachectl(t, srv, "bind", "--addr", "127.0.0.1", "--policy", f)
	srv.WaitListening(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), explainPort), 10*time.Second)
	if _, err := connectFrom(c0, netip.Addr{}, netip.AddrPortFrom(star.Addr4, explainPort)); err == nil {
		t.Fatal("client 0 connected to a daemon listening on loopback only")
	}
	e := explainIn(t, srv, star.Client4[0], f)
	wantVerdict(t, e, cannotReach, "cachectl bind --addr "+star.Addr4.String())
	if !strings.Contains(e.Verdict.Text, "the daemon listens on 127.0.0.1 only") {
		t.Errorf("verdict text %q", e.Verdict.Text)
	}
}

// TestExplainLocalAddressAsPeer: the operator allowed the server's own
// address, meaning to listen on it.
func TestExplainLocalAddressAsPeer(t *testing.T) {
	star, f := explainStar(t)
	mustCachectl(t, star.Server, "allow", star.Addr4.String(), "--policy", f)
	e := explainIn(t, star.Server, star.Addr4, f)
	wantVerdict(t, e, localAddress, "cachectl bind --addr "+star.Addr4.String())
	if e.Address.Interface != star.Bridge {
		t.Errorf("address %+v, want it found on %s", e.Address, star.Bridge)
	}
}

// TestExplainReversePathFilter: the client sends from 10.63.9.1 over link
// A, but the server routes 10.63.9.0/24 out of link B, and strict rp_filter
// on A drops the client's SYN before the firewall sees it.
func TestExplainReversePathFilter(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "iptables-restore")
	srv, cli := nstest.New(t), nstest.New(t)
	p := netip.MustParsePrefix
	a, cliA := nstest.Link(t, srv, cli, []netip.Prefix{p("10.63.1.2/24")}, []netip.Prefix{p("10.63.1.1/24")})
	b, _ := nstest.Link(t, srv, cli, []netip.Prefix{p("10.63.2.2/24")}, []netip.Prefix{p("10.63.2.1/24")})
	cli.MustRun("ip", "addr", "add", "10.63.9.1/32", "dev", "lo")
	srv.MustRun("ip", "route", "add", "10.63.9.0/24", "via", "10.63.2.1", "dev", b)
	srv.MustRun("sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0")
	srv.MustRun("sysctl", "-q", "-w", "net.ipv4.conf."+a+".rp_filter=1")
	peer, listen := netip.MustParseAddr("10.63.9.1"), netip.MustParseAddr("10.63.1.2")
	f := filepath.Join(t.TempDir(), "policy.yaml")
	editPolicy(t, f, func(pol *policy.Policy) {
		pol.Bind = policy.Bind{Addresses: []netip.Addr{listen}, Port: explainPort}
		pol.Allow(host(peer), "behind the router", time.Now())
	})
	mustCachectl(t, srv, "apply", "--policy", f)
	startCachectl(t, srv, "bind", "--policy", f)
	srv.WaitListening(netip.AddrPortFrom(listen, explainPort), 10*time.Second)
	if _, err := connectFrom(cli, peer, netip.AddrPortFrom(listen, explainPort)); err == nil {
		t.Fatal("the client connected although strict rp_filter should drop its packets")
	}
	e := explainIn(t, srv, peer, f)
	wantVerdict(t, e, rpFilterDrop, "sysctl -w net.ipv4.conf."+a+".rp_filter=2")
	if e.Reach.Path.Route.Iface != b || e.Reach.Arrive != a {
		t.Errorf("reach %+v, want arriving on %s and routed back out of %s", e.Reach, a, b)
	}
	// With loose filtering the same client gets in.
	srv.MustRun("sysctl", "-q", "-w", "net.ipv4.conf."+a+".rp_filter=2")
	// The filter dropped the client's ARP requests too (their sender is
	// 10.63.9.1): forget the failed neighbour entry.
	cli.MustRun("ip", "neigh", "flush", "dev", cliA)
	c, err := connectFrom(cli, peer, netip.AddrPortFrom(listen, explainPort))
	if err != nil {
		t.Fatalf("with rp_filter=2: %v", err)
	}
	c.Close()
	wantVerdict(t, explainIn(t, srv, peer, f), canConnect, "cachectl revoke")
}

// TestExplainIPSetAllowlist: more than SetThreshold peers put the
// allowlist into an ipset, and the evaluator follows the set match.
func TestExplainIPSetAllowlist(t *testing.T) {
	var many []netip.Prefix
	for i := range 70 {
		many = append(many, netip.MustParsePrefix(fmt.Sprintf("10.213.1.%d/32", i+1)))
	}
	star, f := explainStar(t, append(many, host(star0(t)))...)
	srv, c0 := star.Server, star.Clients[0]
	mustCachectl(t, srv, "apply", "--policy", f)
	startCachectl(t, srv, "bind", "--policy", f)
	v4 := netip.AddrPortFrom(star.Addr4, explainPort)
	c0.WaitListening(v4, 10*time.Second)
	setGet(t, c0, v4, "k", "through the set")
	e := explainIn(t, srv, star.Client4[0], f)
	wantVerdict(t, e, canConnect, "cachectl revoke "+host(star.Client4[0]).String())
	if d := e.Firewall.TCP; d == nil || !strings.Contains(d.Text, "--match-set cachectl-allow-v4 src") {
		t.Errorf("deciding rule %+v, want the set match", d)
	}
	wantVerdict(t, explainIn(t, srv, star.Client4[1], f), refusedByFirewall, "cachectl allow")
}
