package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/user"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// trackedReport is the part of `audit --json` these tests read.
type trackedReport struct {
	Source struct {
		Kind     string `json:"kind"`
		PID      int    `json:"daemon_pid"`
		Fallback string `json:"fallback"`
	} `json:"source"`
	Dump struct {
		Filter string `json:"filter"`
	} `json:"dump"`
	Peers []struct {
		Addr    netip.Addr     `json:"addr"`
		Verdict string         `json:"verdict"`
		States  map[string]int `json:"states"`
	} `json:"peers"`
}

func trackedAudit(t *testing.T, ns *nstest.NS, args ...string) (int, trackedReport, string) {
	t.Helper()
	code, out := runCachectl(t, ns, append([]string{"audit", "--json", "--daemon", ""}, args...)...)
	var rep trackedReport
	// The JSON report comes first; anything on stderr follows it.
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&rep); err != nil {
		t.Fatalf("audit %s: exit %d, not a JSON report: %v\n%s", strings.Join(args, " "), code, err, out)
	}
	return code, rep, out
}

// TestAuditReadsTheDaemonsTable: with `cachectl bind` running, the audit
// reads the daemon's event-tracked table, and a flow created, changed or
// destroyed right before the audit is reported as the kernel has it.
// Without the daemon, or when a dump is asked for, it dumps and says why.
func TestAuditReadsTheDaemonsTable(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "iptables-save", "ip6tables-save")
	star := nstest.NewStar(t, 1)
	srv := star.Server
	// Some rule uses conntrack, as on any real host, so an empty table is
	// not taken for conntrack not tracking.
	srv.MustRun("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-m", "conntrack", "--ctstate", "ESTABLISHED", "-j", "ACCEPT")
	const port = 11341
	pol := writePolicy(t, fmt.Sprintf("version: 1\nbind:\n  port: %d\npeers:\n  allowed:\n    - cidr: %s/32\n", port, star.Client4[0]))
	d := startCachectl(t, srv, "bind", "--iface", star.Bridge, "--policy", pol)
	d.waitOutput(t, 10*time.Second, "cachectl daemon listening")
	// The daemon's first dump runs in the background.
	waitFor(t, 10*time.Second, "the daemon's flow table in sync", func() bool {
		_, rep, _ := trackedAudit(t, srv, "--policy", pol)
		return rep.Source.Kind == "daemon"
	})

	ct, err := conntrack.Dial(&netlink.Config{NetNS: int(srv.Handle())})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	flow := func(peer netip.Addr, state uint8) conntrack.Flow {
		f := conntrack.NewFlow(6, 0, peer, star.Addr4, 40000, port, 600, 0)
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: state}
		return f
	}
	const established, timeWait = 3, 7
	for i := range 3 {
		intruder := netip.AddrFrom4([4]byte{10, 216, 0, byte(i + 1)})
		if err := ct.Create(flow(intruder, established)); err != nil {
			t.Fatal(err)
		}
		code, rep, out := trackedAudit(t, srv, "--policy", pol)
		if code != exitViolation || rep.Source.Kind != "daemon" || len(rep.Peers) != 1 || rep.Peers[0].Addr != intruder || rep.Peers[0].States["ESTABLISHED"] != 1 {
			t.Fatalf("round %d, flow just created: exit %d, want %d from the daemon's table with %s established:\n%s", i, code, exitViolation, intruder, out)
		}
		if err := ct.Update(flow(intruder, timeWait)); err != nil {
			t.Fatal(err)
		}
		code, rep, out = trackedAudit(t, srv, "--policy", pol)
		if code != exitViolation || rep.Source.Kind != "daemon" || len(rep.Peers) != 1 || rep.Peers[0].States["TIME_WAIT"] != 1 {
			t.Fatalf("round %d, flow just closed: exit %d, want %s in TIME_WAIT:\n%s", i, code, intruder, out)
		}
		if err := ct.Delete(flow(intruder, timeWait)); err != nil {
			t.Fatal(err)
		}
		code, rep, out = trackedAudit(t, srv, "--policy", pol)
		if code != exitOK || rep.Source.Kind != "daemon" || len(rep.Peers) != 0 {
			t.Fatalf("round %d, flow just destroyed: exit %d, want 0 and no peer:\n%s", i, code, out)
		}
	}

	// Text output names the source too.
	if code, out := runCachectl(t, srv, "audit", "--daemon", "", "--policy", pol); code != exitOK || !strings.Contains(out, "flows: the daemon's event-tracked table (pid ") {
		t.Errorf("text audit: exit %d, want 0 naming the daemon's table:\n%s", code, out)
	}
	// An explicit filter still dumps.
	if _, rep, out := trackedAudit(t, srv, "--policy", pol, "--filter", "tuple"); rep.Source.Kind != "dump" || rep.Dump.Filter != "tuple" || rep.Source.Fallback != "--filter tuple asks for a dump" {
		t.Errorf("--filter tuple: want a tuple dump saying why:\n%s", out)
	}
	// An audit of another namespace cannot use this daemon's table.
	if _, rep, out := trackedAudit(t, star.Clients[0], "--policy", pol); rep.Source.Kind != "dump" || !strings.Contains(rep.Source.Fallback, "tracks another network namespace") {
		t.Errorf("audit from another namespace: want a dump because the daemon tracks another one:\n%s", out)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("bind exited %d after SIGTERM, want 0", code)
	}
	if _, rep, out := trackedAudit(t, srv, "--policy", pol); rep.Source.Kind != "dump" || rep.Dump.Filter != "tuple" || rep.Source.Fallback != "no daemon serves this policy" {
		t.Errorf("without the daemon: want a tuple dump saying no daemon serves the policy:\n%s", out)
	}
}

// TestTrackedTableAfterPrivilegeDrop: `bind -u nobody` subscribes and takes
// its first dump while still root, so audits and status read its table.
// Once it loses events it cannot dump again (ctnetlink checks the asking
// task's CAP_NET_ADMIN): the table must say so and audits must dump,
// never answer from what the table held.
func TestTrackedTableAfterPrivilegeDrop(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "iptables-save", "ip6tables-save")
	if _, err := user.Lookup("nobody"); err != nil {
		nstest.Unavailable(t, "no user nobody: %v", err)
	}
	star := nstest.NewStar(t, 1)
	srv := star.Server
	srv.MustRun("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-m", "conntrack", "--ctstate", "ESTABLISHED", "-j", "ACCEPT")
	const port = 11342
	pol := writePolicy(t, fmt.Sprintf("version: 1\nbind:\n  port: %d\npeers:\n  allowed:\n    - cidr: %s/32\n", port, star.Client4[0]))
	d := startCachectl(t, srv, "bind", "--iface", star.Bridge, "--policy", pol, "-u", "nobody")
	d.waitOutput(t, 10*time.Second, "cachectl daemon listening")
	if _, rep, out := trackedAudit(t, srv, "--policy", pol); rep.Source.Kind != "daemon" {
		t.Fatalf("right after bind -u nobody started: want the daemon's table, synchronised before the drop:\n%s", out)
	}
	var st struct {
		Audit struct {
			Source struct {
				Kind string `json:"kind"`
			} `json:"source"`
		} `json:"audit"`
	}
	_, out := runCachectl(t, srv, "status", "--json", "--policy", pol)
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&st); err != nil || st.Audit.Source.Kind != "daemon" {
		t.Fatalf("status --json: %v; want its audit from the daemon's table:\n%s", err, out)
	}

	ct, err := conntrack.Dial(&netlink.Config{NetNS: int(srv.Handle())})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	// Overflow the daemon's event socket while it cannot read it.
	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := range 20000 {
		peer := netip.AddrFrom4([4]byte{10, 217, byte(i >> 8), byte(i)})
		f := conntrack.NewFlow(6, 0, peer, star.Addr4, 40000, port, 600, 0)
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: 3}
		if err := ct.Create(f); err != nil {
			_ = d.cmd.Process.Signal(syscall.SIGCONT)
			t.Fatal(err)
		}
	}
	if err := ct.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	const why = "its table is out of sync: resync needs CAP_NET_ADMIN (daemon runs as nobody)"
	waitFor(t, 10*time.Second, "an audit that dumps because the table cannot resync", func() bool {
		_, rep, _ := trackedAudit(t, srv, "--policy", pol)
		return rep.Source.Kind == "dump" && strings.Contains(rep.Source.Fallback, why)
	})
	intruder := netip.MustParseAddr("10.216.9.9")
	f := conntrack.NewFlow(6, 0, intruder, star.Addr4, 40001, port, 600, 0)
	f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: 3}
	if err := ct.Create(f); err != nil {
		t.Fatal(err)
	}
	code, rep, out := trackedAudit(t, srv, "--policy", pol)
	if code != exitViolation || rep.Source.Kind != "dump" || len(rep.Peers) != 1 || rep.Peers[0].Addr != intruder {
		t.Fatalf("after the table gave up: exit %d, want %d from a dump with only %s:\n%s", code, exitViolation, intruder, out)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("bind exited %d after SIGTERM, want 0", code)
	}
}
