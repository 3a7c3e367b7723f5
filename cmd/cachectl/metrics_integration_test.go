package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// TestBindServesMetrics runs bind with metrics in a server namespace whose
// firewall cachectl does not manage (only a conntrack rule, so the audit
// can see): an allowed client is served, a second one is closed by the
// daemon, and the scrape shows the traffic, the denial, the allowlist and
// the audit's violation, judged from the flow the denied peer left behind.
func TestBindServesMetrics(t *testing.T) {
	star := nstest.NewStar(t, 2)
	srv, c1, c2 := star.Server, star.Clients[0], star.Clients[1]
	nstest.RequireCommands(t, "iptables")
	srv.MustRun("iptables", "-I", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	f := filepath.Join(t.TempDir(), "policy.yaml")
	const port = 11411
	pol := fmt.Sprintf("version: 1\nbind:\n  interfaces: [%s]\n  port: %d\npeers:\n  allow_loopback: true\n  allowed:\n    - cidr: %s/32\n      comment: app\nfirewall:\n  managed: false\n",
		star.Bridge, port, star.Client4[0])
	if err := os.WriteFile(f, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := netip.AddrPortFrom(star.Addr4, port)
	mon := netip.AddrPortFrom(star.Addr4, 9150)
	d := startCachectl(t, srv, "bind", "--policy", f, "--metrics-listen", mon.String(), "--audit-interval", "1s")
	c1.WaitListening(cache, 10*time.Second)
	d.waitOutput(t, 5*time.Second, "serving Prometheus metrics", "http://"+mon.String()+"/metrics")

	setGet(t, c1, cache, "k", "v")
	requireDenied(t, c2, cache)

	var last string
	waitFor(t, 10*time.Second, "metrics showing the denial and the audit's violation", func() bool {
		fams, err := scrapeIn(c1, mon)
		if err != nil {
			last = err.Error()
			return false
		}
		want := map[string]float64{
			"cachectl_get_hits_total":           1,
			"cachectl_items":                    1,
			"cachectl_denied_connections_total": 1,
			"cachectl_allowlist_peers":          1,
			"cachectl_allowlist_loopback":       1,
			"cachectl_firewall_readable":        1,
			"cachectl_firewall_managed":         0,
			"cachectl_audit_violations":         1,
			"cachectl_audit_errors":             0,
		}
		last = ""
		for name, v := range want {
			if got, ok := sample(fams, name); !ok || got != v {
				last += fmt.Sprintf("%s = %v (present %v), want %v; ", name, got, ok, v)
			}
		}
		if got, ok := sample(fams, "cachectl_firewall_installed", "family", "ipv4"); !ok || got != 0 {
			last += fmt.Sprintf("ipv4 installed = %v (present %v), want 0; ", got, ok)
		}
		return last == ""
	})
	if last != "" {
		t.Fatal(last)
	}
	d.waitOutput(t, 5*time.Second, "periodic audit found peers the policy does not permit", "peers="+star.Client4[1].String())
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}
