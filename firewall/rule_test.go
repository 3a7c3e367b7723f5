package firewall

import (
	"net/netip"
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
