package metrics

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/store"
	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/firewall/firewalltest"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/netinfo/nstest"
	"github.com/cachectl/cachectl/policy"
)

// fixedDaemon is a daemon with one of every counter, distinct values so a
// series reading the wrong field shows in the golden file.
func fixedDaemon() DaemonStats {
	var st store.Stats
	st.GetHits, st.GetMisses, st.GetExpired, st.CmdGet, st.CmdSet = 70, 30, 2, 100, 40
	st.Evictions, st.Reclaimed, st.TotalItems, st.CurrItems = 5, 6, 41, 35
	st.Bytes, st.LimitMaxbytes = 4096, 64<<20
	return DaemonStats{Store: st, Server: cached.Counters{CurrConnections: 3, TotalConnections: 12, Rejected: 1,
		Denied: 4, UDPDenied: 7, Panics: 0, BytesRead: 9000, BytesWritten: 12000, MaxConnections: 1024}}
}

// fakeFirewall is a host whose rules are applied for spec, with refusals
// counted on the default-deny rules of IPv4 and no ip6tables.
func fakeFirewall(t *testing.T, spec firewall.Spec) func(context.Context) (FirewallState, error) {
	fw := firewalltest.New()
	fw.Unavailable[netinfo.IPv6] = errors.New("ip6tables not found")
	if _, err := firewall.Apply(context.Background(), fw, spec, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	fw.Hits["cachectl: default reject tcp"] = 3
	return func(ctx context.Context) (FirewallState, error) {
		st, err := firewall.ReadStatus(ctx, fw, spec)
		return FirewallState{Managed: true, Status: st}, err
	}
}

func exposition(t *testing.T, c *Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestCollectorGolden pins every series name, help text, type and label
// for a bind daemon with a managed firewall and one audit taken.
func TestCollectorGolden(t *testing.T) {
	spec := firewall.Spec{Port: 11211, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.21/32")},
		Loopback: true, Verdict: policy.VerdictReject}
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	au := NewAuditor(func(context.Context) (audit.Report, error) {
		return audit.Report{Summary: audit.Summary{Flows: 4, Peers: 3, Permitted: 2, Violations: 1}}, nil
	}, time.Minute, slog.New(slog.DiscardHandler))
	ticks := []time.Time{at, at.Add(250 * time.Millisecond)}
	au.now = func() time.Time { t := ticks[0]; ticks = ticks[1:]; return t }
	au.RunOnce(context.Background())

	c := NewCollector(Sources{
		Daemon:    fixedDaemon,
		Allowlist: func() (Allowlist, bool) { return Allowlist{Peers: 1, Loopback: true}, true },
		Firewall:  fakeFirewall(t, spec),
		Audit:     au,
		Version:   "1.6.18-test",
	})
	nstest.Golden(t, "bind.prom", exposition(t, c))
}

// TestCollectorServeOnly: plain serve has neither allowlist, firewall nor
// audit, and reports only the daemon.
func TestCollectorServeOnly(t *testing.T) {
	nstest.Golden(t, "serve.prom", exposition(t, NewCollector(Sources{Daemon: fixedDaemon, Version: "1.6.18-test"})))
}

// TestCollectorUnreadableFirewall: a scrape that cannot read the firewall
// says so with one gauge instead of failing or reporting zeros.
func TestCollectorUnreadableFirewall(t *testing.T) {
	c := NewCollector(Sources{Daemon: fixedDaemon, Firewall: func(context.Context) (FirewallState, error) {
		return FirewallState{}, errors.New("iptables-save: permission denied")
	}})
	got := string(exposition(t, c))
	for _, want := range []string{"cachectl_firewall_readable 0\n"} {
		if !bytes.Contains([]byte(got), []byte(want)) {
			t.Errorf("exposition lacks %q:\n%s", want, got)
		}
	}
	if bytes.Contains([]byte(got), []byte("cachectl_firewall_in_sync")) {
		t.Errorf("an unreadable firewall still reports in_sync:\n%s", got)
	}
}

// TestAuditorKeepsTheLastVerdict: a failed run counts as a failure and
// leaves the last good verdict in place; before any verdict there is none.
func TestAuditorKeepsTheLastVerdict(t *testing.T) {
	fail := false
	au := NewAuditor(func(context.Context) (audit.Report, error) {
		if fail {
			return audit.Report{}, errors.New("conntrack: operation not permitted")
		}
		return audit.Report{Summary: audit.Summary{Violations: 2}}, nil
	}, time.Minute, slog.New(slog.DiscardHandler))
	if s := au.state(); s.ok || s.runs != 0 {
		t.Fatalf("fresh auditor state %+v", s)
	}
	au.RunOnce(context.Background())
	fail = true
	au.RunOnce(context.Background())
	s := au.state()
	if s.runs != 2 || s.failures != 1 || !s.ok || s.summary.Violations != 2 {
		t.Errorf("state after a good and a failed run = %+v; want 2 runs, 1 failure, 2 violations kept", s)
	}
}
