package audit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/cachedtest"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

const testPort = 11211

// startDaemon runs cachectl's real daemon (package cached) inside ns on
// the cache port at the given addresses, plus loopback for the cross-check
// query, until the test ends.
func startDaemon(t *testing.T, ns *nstest.NS, addrs ...netip.Addr) {
	t.Helper()
	cfg := cached.DefaultConfig()
	cfg.Port = testPort
	cfg.Listen = []string{"127.0.0.1"}
	for _, a := range addrs {
		cfg.Listen = append(cfg.Listen, a.String())
	}
	cachedtest.StartIn(t, ns, cfg)
}

// connectAndExchange connects from ns to addr and asks for the version,
// leaving the connection open (closed at cleanup).
func connectAndExchange(t *testing.T, ns *nstest.NS, addr netip.AddrPort) net.Conn {
	t.Helper()
	c, err := ns.Dial(addr, 2*time.Second)
	if err != nil {
		t.Fatalf("connecting to %s from %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "version\r\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "VERSION ") {
		t.Fatalf("asking %s for its version: %q, %v", addr, line, err)
	}
	return c
}

// trackConnections adds an unrelated stateful rule, as any real host has,
// so the kernel tracks flows in the namespace.
func trackConnections(ns *nstest.NS) {
	for _, ipt := range []string{"iptables", "ip6tables"} {
		ns.MustRun(ipt, "-A", "INPUT", "-p", "tcp", "--dport", "22", "-m", "conntrack", "--ctstate", "ESTABLISHED", "-j", "ACCEPT")
	}
}

func nsRules(ns *nstest.NS) func() (string, error) {
	return func() (string, error) {
		v4, err := ns.Run("iptables-save")
		if err != nil {
			return "", err
		}
		v6, err := ns.Run("ip6tables-save")
		return v4 + v6, err
	}
}

func audit(t *testing.T, ns *nstest.NS, r Rules) Report {
	t.Helper()
	rd, err := Open(int(ns.Handle()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	flows, err := rd.Flows()
	rep := Audit(flows, r)
	rep.NoteTracking(rd.ProbeTracking(err, len(flows), nsRules(ns)))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func verdicts(rep Report) string {
	var vs []string
	for _, p := range rep.Peers {
		vs = append(vs, fmt.Sprintf("%s=%s", p.Addr, p.Verdict))
	}
	return strings.Join(vs, " ")
}

func starRules(s *nstest.Star) Rules {
	allowed := map[netip.Addr]bool{s.Client4[0]: true, s.Client6[0]: true}
	return Rules{Port: testPort, Local: []netip.Addr{s.Addr4, s.Addr6}, Permits: func(a netip.Addr) (string, bool) {
		return a.String(), allowed[a]
	}}
}

func TestRealAudit(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "ip6tables", "iptables-save", "ip6tables-save", "conntrack")
	s := nstest.NewStar(t, 2)
	trackConnections(s.Server)
	startDaemon(t, s.Server, s.Addr4, s.Addr6)
	for _, c := range s.Clients {
		connectAndExchange(t, c, netip.AddrPortFrom(s.Addr4, testPort))
		connectAndExchange(t, c, netip.AddrPortFrom(s.Addr6, testPort))
	}
	r := starRules(s)

	rep := audit(t, s.Server, r)
	want := fmt.Sprintf("%s=violation %s=violation %s=permitted %s=permitted", s.Client4[1], s.Client6[1], s.Client4[0], s.Client6[0])
	if got := verdicts(rep); got != want {
		t.Fatalf("verdicts = %s, want %s", got, want)
	}
	if rep.Summary.Violations != 2 || len(rep.Findings) != 0 {
		t.Errorf("summary %+v, findings %+v: want 2 violations, no findings", rep.Summary, rep.Findings)
	}
	for _, p := range rep.Peers {
		if p.States["ESTABLISHED"] != 1 {
			t.Errorf("peer %s states %v, want one ESTABLISHED", p.Addr, p.States)
		}
	}

	// The daemon agrees with conntrack.
	conns := queryDaemon(t, s.Server)
	rep.CrossCheck(conns, r)
	if len(rep.Findings) != 0 {
		t.Errorf("cross-check findings %+v, want none", rep.Findings)
	}

	// Deleting client 2's flows cleans the table (the sockets stay open;
	// only the daemon cross-check can still see them).
	s.Server.MustRun("conntrack", "-D", "-f", "ipv4", "-s", s.Client4[1].String())
	s.Server.MustRun("conntrack", "-D", "-f", "ipv6", "-s", s.Client6[1].String())
	rep = audit(t, s.Server, r)
	if rep.Violated() || rep.Summary.Peers != 2 {
		t.Fatalf("after deleting client 2's flows: %s, want 2 permitted peers", verdicts(rep))
	}
	rep.CrossCheck(conns, r)
	if got := kinds(rep); got != fmt.Sprintf("daemon_only %s violation,daemon_only %s violation", s.Client4[1], s.Client6[1]) {
		t.Errorf("cross-check after delete: %s", got)
	}
}

func TestRealNotTracking(t *testing.T) {
	nstest.RequireRoot(t, "iptables-save", "ip6tables-save")
	s := nstest.NewStar(t, 1)
	startDaemon(t, s.Server, s.Addr4, s.Addr6)
	connectAndExchange(t, s.Clients[0], netip.AddrPortFrom(s.Addr4, testPort))
	rep := audit(t, s.Server, starRules(s))
	if rep.Summary.Flows != 0 || kinds(rep) != KindNotTracking || !rep.Incomplete() {
		t.Fatalf("without a conntrack rule: flows %d, findings %q; want 0 flows and %s", rep.Summary.Flows, kinds(rep), KindNotTracking)
	}
	// The daemon's view confirms it: it has a connection conntrack lacks.
	rep.CrossCheck(queryDaemon(t, s.Server), starRules(s))
	if want := KindNotTracking + ",daemon_only " + s.Client4[0].String() + " warning"; kinds(rep) != want {
		t.Errorf("after the cross-check: findings %q, want %q", kinds(rep), want)
	}
}

// queryDaemon asks the daemon in ns for its connections over loopback: a
// query to a bound address would itself be a flow to the cache port.
func queryDaemon(t *testing.T, ns *nstest.NS) []DaemonConn {
	t.Helper()
	var conns []DaemonConn
	if err := ns.Do(func() error {
		var err error
		conns, err = QueryConns(context.Background(), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), testPort), 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return conns
}

func TestRealWatch(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "ip6tables")
	s := nstest.NewStar(t, 2)
	trackConnections(s.Server)
	startDaemon(t, s.Server, s.Addr4, s.Addr6)
	events := make(chan Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, int(s.Server.Handle()), starRules(s), func(e Event) error { events <- e; return nil })
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Watch did not stop within 5s of cancel")
		}
	}()
	time.Sleep(200 * time.Millisecond) // let the subscription reach the kernel
	c := connectAndExchange(t, s.Clients[1], netip.AddrPortFrom(s.Addr6, testPort))
	port := netip.MustParseAddrPort(c.LocalAddr().String()).Port()
	deadline := time.After(time.Second)
	for {
		select {
		case e := <-events:
			if e.Type == "new" && e.Peer == s.Client6[1] && e.PeerPort == port {
				if e.Verdict != Violation {
					t.Errorf("event %s: want a violation", e.Text())
				}
				return
			}
		case <-deadline:
			t.Fatal("no NEW event for the connection within 1s")
		}
	}
}

// TestRealDNAT audits a port forward: the peer dials 8080, the kernel
// redirects it to the cache port, and the audit still sees it, showing
// what the peer dialled.
func TestRealDNAT(t *testing.T) {
	nstest.RequireRoot(t, "iptables")
	s := nstest.NewStar(t, 1)
	s.Server.MustRun("iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "8080", "-j", "REDIRECT", "--to-ports", fmt.Sprint(testPort))
	startDaemon(t, s.Server, s.Addr4, s.Addr6)
	connectAndExchange(t, s.Clients[0], netip.AddrPortFrom(s.Addr4, 8080))
	r := starRules(s)
	r.Permits = nil // nobody is permitted: the forwarded peer must show up
	rep := audit(t, s.Server, r)
	if len(rep.Peers) != 1 {
		t.Fatalf("peers %s, want only %s", verdicts(rep), s.Client4[0])
	}
	p := rep.Peers[0]
	wantDialled := fmt.Sprintf("tcp %s:8080", s.Addr4)
	if p.Addr != s.Client4[0] || p.Verdict != Violation || len(p.Dialled) != 1 || p.Dialled[0] != wantDialled {
		t.Errorf("peer %+v, want %s as a violation that dialled %s", p, s.Client4[0], wantDialled)
	}
}
