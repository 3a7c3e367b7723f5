package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// TestBindKeepsTheFirewall: with firewall.managed, a running bind puts its
// rules back within 5 s after another tool flushes them, deletes its
// chains, or rebuilds the whole table as a firewalld or ufw reload does;
// each repair is counted in stats. At stop the rules stay.
func TestBindKeepsTheFirewall(t *testing.T) {
	nstest.RequireCommands(t, "iptables", "iptables-restore")
	star := nstest.NewStar(t, 1)
	srv, c1 := star.Server, star.Clients[0]
	const port = 11331
	f := writePolicy(t, fmt.Sprintf("version: 1\nbind:\n  port: %d\nfirewall:\n  managed: true\n", port))
	v4 := netip.AddrPortFrom(star.Addr4, port)

	d := startCachectl(t, srv, "bind", "--iface", star.Bridge, "--policy", f)
	d.waitOutput(t, 10*time.Second, "cachectl daemon listening")
	requireRefused(t, c1, v4, time.Second)

	for i, damage := range []string{
		"iptables -F",
		"iptables -F; iptables -X",
		// A firewall's reload: a restore without --noflush replaces the table.
		`printf '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n' | iptables-restore`,
	} {
		srv.MustRun("sh", "-c", damage)
		requireRefused(t, c1, v4, 5*time.Second)
		// The host itself counts as loopback, so it may read stats. The
		// count follows the repair by a moment.
		waitFor(t, 2*time.Second, fmt.Sprintf("firewall_reapplies >= %d after %q", i+1, damage),
			func() bool { return stat(t, srv, v4, "firewall_reapplies") >= i+1 })
	}
	d.waitOutput(t, time.Second, "firewall rules were removed by something else; re-applied")

	// status reads the keeper through the daemon's control socket. The
	// audit is skipped: the client did reach the daemon while the rules
	// were gone, and conntrack remembers it for a while.
	out := mustCachectl(t, srv, "status", "--json", "--no-audit", "--policy", f)
	var ov overview
	if err := json.Unmarshal([]byte(out), &ov); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if !ov.Daemon.Running || ov.Firewall.Keeper == nil || ov.Firewall.Keeper.Reapplies < 3 || !ov.Firewall.InSync {
		t.Errorf("status after three repairs:\n%s", out)
	}

	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("bind exited %d after SIGTERM, want 0", code)
	}
	if _, err := srv.Run("iptables", "-C", "INPUT", "-m", "comment", "--comment", "cachectl", "-j", "CACHECTL-INPUT"); err != nil {
		t.Errorf("the jump to cachectl's rules is gone after the daemon stopped: %v", err)
	}
}

// requireRefused waits up to within for the firewall to reset ns's
// connection attempts to addr (the daemon alone would accept, then close).
func requireRefused(t *testing.T, ns *nstest.NS, addr netip.AddrPort, within time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		c, err := ns.Dial(addr, time.Second)
		if err == nil {
			c.Close()
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if time.Since(start) > within {
			t.Fatalf("%s from %s: %v; want refused by the firewall within %s", addr, ns.Name, err, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
