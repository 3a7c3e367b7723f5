package firewall

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo"
)

func TestParseRuleNormalises(t *testing.T) {
	want := Rule{Chain: "CACHECTL-P11211", Source: netip.MustParsePrefix("10.0.0.1/32"), Proto: "tcp",
		DPort: 0, Comment: "cachectl: allow 10.0.0.1/32", Target: "ACCEPT"}
	jump := Rule{Chain: "CACHECTL-INPUT", Proto: "tcp", DPort: 11211, Comment: "cachectl:port", Target: "CACHECTL-P11211"}
	tests := []struct {
		line string
		want Rule
		c    Counters
	}{
		{`-A CACHECTL-P11211 -s 10.0.0.1/32 -p tcp -m comment --comment "cachectl: allow 10.0.0.1/32" -j ACCEPT`, want, Counters{}},
		{`-A CACHECTL-P11211 -p tcp -s 10.0.0.1 -m comment --comment "cachectl: allow 10.0.0.1/32" -j ACCEPT`, want, Counters{}},
		{`[7:420] -A CACHECTL-P11211 -s 10.0.0.1/32 -p tcp -m comment --comment "cachectl: allow 10.0.0.1/32" -j ACCEPT`, want, Counters{7, 420}},
		{`-A CACHECTL-P11211 -s 10.0.0.1/32 -p tcp -m comment --comment "cachectl: allow 10.0.0.1/32" -c 3 180 -j ACCEPT`, want, Counters{3, 180}},
		// iptables adds -m tcp and drops the quotes of a comment without spaces.
		{`-A CACHECTL-INPUT -p tcp -m tcp --dport 11211 -m comment --comment cachectl:port -j CACHECTL-P11211`, jump, Counters{}},
		{`-A CACHECTL-INPUT -p tcp --dport 11211 -m comment --comment "cachectl:port" -j CACHECTL-P11211`, jump, Counters{}},
	}
	for _, tc := range tests {
		got, c, err := ParseRule(tc.line)
		if err != nil || got != tc.want || c != tc.c {
			t.Errorf("ParseRule(%s)\n = %+v %+v %v\nwant %+v %+v", tc.line, got, c, err, tc.want, tc.c)
		}
	}
	// Round trip of everything cachectl renders.
	for _, f := range netinfo.Families {
		for _, r := range NewRuleset(Spec{Port: 1, UDPPort: 2, Allow: mixed, Loopback: true}, f).Rules {
			if got, _, err := ParseRule(r.String()); err != nil || got != r {
				t.Errorf("round trip of %s = %+v, %v", r, got, err)
			}
		}
	}
}

func TestParseRuleKeepsForeignOptions(t *testing.T) {
	r, _, err := ParseRule(`-A CACHECTL-P1 -s 10.0.0.1/32 -m limit --limit 5/sec -j ACCEPT`)
	if err != nil || r.Extra != "-m limit --limit 5/sec" {
		t.Errorf("Extra = %q, %v; a hand-edited rule must not compare equal", r.Extra, err)
	}
	for _, bad := range []string{`-A C --comment "open`, `-s 10.0.0.1 -j ACCEPT`, `-A C -s nonsense -j ACCEPT`, `[1:x] -A C -j ACCEPT`} {
		if _, _, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%s) accepted it", bad)
		}
	}
}

func statusOf(t *testing.T, f *fake, s Spec) Status {
	t.Helper()
	st, err := ReadStatus(ctx, f, s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(f *fake)
		ok       bool
		warning  string // substring of some warning; "" for none expected
		diffPart string
	}{
		{"in sync", func(f *fake) { mustApplyFake(f, specA) }, true, "", ""},
		{"not installed", func(*fake) {}, false, "not installed", "missing chains"},
		{"rule deleted by hand", func(f *fake) {
			mustApplyFake(f, specA)
			rs := f.tables[netinfo.IPv4].rules[PortChain(11211)]
			f.tables[netinfo.IPv4].rules[PortChain(11211)] = slices.Delete(rs, 2, 3)
		}, false, "", "missing rules: -A CACHECTL-P11211 -s 10.0.0.1/32"},
		{"other allowlist", func(f *fake) { mustApplyFake(f, specB) }, false, "", "unexpected rules"},
		{"jump not first", func(f *fake) {
			mustApplyFake(f, specA)
			f.tables[netinfo.IPv4].rules["INPUT"] = append([]string{hostRule}, f.tables[netinfo.IPv4].rules["INPUT"]...)
		}, true, "not rule #1", ""},
		{"host firewall, nat and other backend", func(f *fake) {
			mustApplyFake(f, specA)
			f.env = Environment{Backend: "nf_tables", OtherBackendRules: true, Firewalls: []string{"ufw"},
				NAT: []string{"-A DOCKER ! -i docker0 -p tcp -m tcp --dport 11211 -j DNAT --to-destination 172.17.0.2:11211",
					"-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.3:80"}}
		}, true, "nat rule redirects", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
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
	f := newFake()
	mustApplyFake(f, specA)
	f.hits["cachectl: default reject tcp"] = 3
	f.hits["cachectl: allow 10.0.0.1/32"] = 5
	st := statusOf(t, f, specA)
	v4 := st.Families[0]
	want := RuleCounter{Chain: PortChain(11211), Comment: "cachectl: allow 10.0.0.1/32",
		Source: netip.MustParsePrefix("10.0.0.1/32"), Verdict: "accept", Counters: Counters{5, 300}}
	if !slices.Contains(v4.Rules, want) {
		t.Errorf("rules %+v lack %+v", v4.Rules, want)
	}
	if n := counterOf(v4, "cachectl: default reject tcp"); n != 3 {
		t.Errorf("reject counter = %d, want 3", n)
	}
}

func TestStatusWithoutIPv6(t *testing.T) {
	f := newFake()
	f.unavailable[netinfo.IPv6] = errNoIP6
	mustApplyFake(f, specA)
	st := statusOf(t, f, specA)
	if !st.OK() || st.Families[1].Available || !strings.Contains(strings.Join(st.Warnings(), " "), "ipv6 skipped") {
		t.Errorf("status = %+v", st)
	}
}

var errNoIP6 = errors.New("ip6tables not found")

func mustApplyFake(f *fake, s Spec) {
	if _, err := Apply(ctx, f, s, nil); err != nil {
		panic(err)
	}
}
