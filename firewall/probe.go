package firewall

import (
	"context"
	"slices"
	"strings"
)

// Probe is the keeper's cheap look at whether cachectl's rules are still
// in the kernel. It checks the skeleton only: the jump from INPUT and the
// last rule of every owned chain. Another tool that flushes a chain,
// deletes the chains or rebuilds the whole table (a firewalld or ufw
// reload) takes at least one of those with it; an edit inside the
// allowlist is `cachectl firewall status`'s full comparison to find.
type Probe interface {
	// Missing names the parts of rs's skeleton the kernel lacks; none
	// means the rules are in place.
	Missing(ctx context.Context, rs Ruleset) ([]string, error)
}

// probePoint is one rule the probe looks for.
type probePoint struct {
	what string // for the log: "jump from INPUT", "last rule of CACHECTL-P11211"
	rule Rule
}

// skeleton is what a Probe checks for rs: the jump first, then the last
// rule of each owned chain, so every chain's flush or removal shows.
func skeleton(rs Ruleset) []probePoint {
	pts := []probePoint{{what: "jump from INPUT", rule: jumpRule()}}
	for _, c := range rs.Chains {
		var last *Rule
		for i := range rs.Rules {
			if rs.Rules[i].Chain == c {
				last = &rs.Rules[i]
			}
		}
		if last != nil {
			pts = append(pts, probePoint{what: "last rule of " + c, rule: *last})
		}
	}
	return pts
}

// SaveProbe probes through an Applier's Save: one iptables-save per
// family. It serves where go-iptables cannot run (the test double), and
// shows that the cheap probe and the full status agree on a Ruleset.
type SaveProbe struct{ Applier Applier }

// Missing reads the family's filter table and looks for the skeleton.
func (p SaveProbe) Missing(ctx context.Context, rs Ruleset) ([]string, error) {
	cur, err := readOwned(ctx, p.Applier, rs.Family)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, pt := range skeleton(rs) {
		if pt.rule.Chain == "INPUT" {
			if !cur.jump {
				missing = append(missing, pt.what)
			}
			continue
		}
		if !slices.ContainsFunc(cur.rules, func(r Rule) bool { return r == pt.rule }) {
			missing = append(missing, pt.what)
		}
	}
	return missing, nil
}

// describeMissing joins a probe's findings for the log.
func describeMissing(missing []string) string { return strings.Join(missing, ", ") }
