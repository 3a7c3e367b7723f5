package firewall_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/firewalltest"
	"github.com/cachectl/cachectl/netinfo"
)

func statusOf(t *testing.T, f *firewalltest.Fake, s firewall.Spec) firewall.Status {
	t.Helper()
	st, err := firewall.ReadStatus(ctx, f, s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(f *firewalltest.Fake)
		ok       bool
		warning  string // substring of some warning; "" for none expected
		diffPart string
	}{
		{"in sync", func(f *firewalltest.Fake) { mustApplyFake(f, specA) }, true, "", ""},
		{"not installed", func(*firewalltest.Fake) {}, false, "not installed", "missing chains"},
		{"rule deleted by hand", func(f *firewalltest.Fake) {
			mustApplyFake(f, specA)
			rs := f.Rules(netinfo.IPv4, firewall.PortChain(11211))
			f.SetRules(netinfo.IPv4, firewall.PortChain(11211), slices.Delete(rs, 3, 4)...)
		}, false, "", "missing rules: -A CACHECTL-P11211 -s 10.0.0.1/32"},
		{"other allowlist", func(f *firewalltest.Fake) { mustApplyFake(f, specB) }, false, "", "unexpected rules"},
		{"jump not first", func(f *firewalltest.Fake) {
			mustApplyFake(f, specA)
			f.SetRules(netinfo.IPv4, "INPUT", append([]string{hostRule}, f.Rules(netinfo.IPv4, "INPUT")...)...)
		}, true, "not rule #1", ""},
		{"host firewall, nat and other backend", func(f *firewalltest.Fake) {
			mustApplyFake(f, specA)
			f.Env = firewall.Environment{Backend: "nf_tables", OtherBackendRules: true, Firewalls: []string{"ufw"},
				NAT: []string{"-A DOCKER ! -i docker0 -p tcp -m tcp --dport 11211 -j DNAT --to-destination 172.17.0.2:11211",
					"-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.3:80"}}
		}, true, "nat rule redirects", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := firewalltest.New()
			tc.setup(f)
			st := statusOf(t, f, specA)
			if st.OK() != tc.ok {
				t.Errorf("OK = %v, want %v: %+v", st.OK(), tc.ok, st)
			}
			ws := strings.Join(st.Warnings(), "\n")
			if tc.warning == "" && ws != "" {
				t.Errorf("unexpected warnings: %s", ws)
			}
			if !strings.Contains(ws, tc.warning) {
				t.Errorf("warnings %q lack %q", ws, tc.warning)
			}
			if tc.diffPart != "" && !strings.Contains(st.Families[0].Diff.String(), tc.diffPart) {
				t.Errorf("diff %q lacks %q", st.Families[0].Diff, tc.diffPart)
			}
			if strings.Contains(ws, "8080") {
				t.Error("a nat rule for another port was reported")
			}
		})
	}
}

func TestStatusCounters(t *testing.T) {
	f := firewalltest.New()
	mustApplyFake(f, specA)
	f.Hits["cachectl: default reject tcp"] = 3
	f.Hits["cachectl: allow 10.0.0.1/32"] = 5
	st := statusOf(t, f, specA)
	v4 := st.Families[0]
	want := firewall.RuleCounter{Chain: firewall.PortChain(11211), Comment: "cachectl: allow 10.0.0.1/32",
		Source: netip.MustParsePrefix("10.0.0.1/32"), Verdict: "accept", Counters: firewall.Counters{5, 300}}
	if !slices.Contains(v4.Rules, want) {
		t.Errorf("rules %+v lack %+v", v4.Rules, want)
	}
	if n := firewall.CounterOf(v4, "cachectl: default reject tcp"); n != 3 {
		t.Errorf("reject counter = %d, want 3", n)
	}
}

func TestStatusWithoutIPv6(t *testing.T) {
	f := firewalltest.New()
	f.Unavailable[netinfo.IPv6] = errNoIP6
	mustApplyFake(f, specA)
	st := statusOf(t, f, specA)
	if !st.OK() || st.Families[1].Available || !strings.Contains(strings.Join(st.Warnings(), " "), "ipv6 skipped") {
		t.Errorf("status = %+v", st)
	}
}

var errNoIP6 = errors.New("ip6tables not found")

func mustApplyFake(f *firewalltest.Fake, s firewall.Spec) {
	if _, err := firewall.Apply(ctx, f, s, nil); err != nil {
		panic(err)
	}
}
