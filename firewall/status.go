package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

// Diff is how the kernel's owned chains differ from a Ruleset.
type Diff struct {
	MissingChains    []string `json:"missing_chains,omitempty"`
	UnexpectedChains []string `json:"unexpected_chains,omitempty"`
	Missing          []string `json:"missing_rules,omitempty"`    // wanted, not found
	Unexpected       []string `json:"unexpected_rules,omitempty"` // found, not wanted
	OrderDiffers     bool     `json:"order_differs,omitempty"`
	Sets             []string `json:"sets,omitempty"` // ipset differences
}

// InSync reports whether nothing differs.
func (d Diff) InSync() bool {
	return len(d.MissingChains)+len(d.UnexpectedChains)+len(d.Missing)+len(d.Unexpected)+len(d.Sets) == 0 && !d.OrderDiffers
}

func (d Diff) String() string {
	var parts []string
	add := func(what string, xs []string) {
		if len(xs) > 0 {
			parts = append(parts, what+": "+strings.Join(xs, "; "))
		}
	}
	add("missing chains", d.MissingChains)
	add("unexpected chains", d.UnexpectedChains)
	add("missing rules", d.Missing)
	add("unexpected rules", d.Unexpected)
	add("sets", d.Sets)
	if d.OrderDiffers {
		parts = append(parts, "rules are in a different order")
	}
	if len(parts) == 0 {
		return "in sync"
	}
	return strings.Join(parts, "; ")
}

// Compare normalises nothing itself: got must come from ParseRule, which
// is what absorbs iptables' reordering, `-m tcp` and quoting.
func Compare(want Ruleset, got []Rule, gotChains []string) Diff {
	var d Diff
	for _, c := range want.Chains {
		if !slices.Contains(gotChains, c) {
			d.MissingChains = append(d.MissingChains, c)
		}
	}
	for _, c := range gotChains {
		if !slices.Contains(want.Chains, c) {
			d.UnexpectedChains = append(d.UnexpectedChains, c)
		}
	}
	rest := slices.Clone(got)
	for _, r := range want.Rules {
		if i := slices.Index(rest, r); i >= 0 {
			rest = slices.Delete(rest, i, i+1)
		} else {
			d.Missing = append(d.Missing, r.String())
		}
	}
	for _, r := range rest {
		d.Unexpected = append(d.Unexpected, r.String())
	}
	if len(d.Missing) == 0 && len(d.Unexpected) == 0 && !slices.Equal(want.Rules, got) {
		d.OrderDiffers = true // first match wins, so order is part of the meaning
	}
	return d
}

// RuleCounter is one owned rule with its kernel counters. The default-deny
// rules' counters are how an operator sees blocked attempts: a rejected
// SYN never reaches the conntrack table.
type RuleCounter struct {
	Chain   string       `json:"chain"`
	Comment string       `json:"comment"`
	Source  netip.Prefix `json:"source"` // zero (JSON "") for any source
	Proto   string       `json:"proto,omitempty"`
	Verdict string       `json:"verdict"` // accept, reject, drop, or the chain jumped to
	Counters
}

// Refuses reports whether the rule turns packets away (reject or drop):
// its counters are blocked attempts.
func (r RuleCounter) Refuses() bool { return policy.Verdict(r.Verdict).Valid() }

// FamilyStatus is one family's state against the policy.
type FamilyStatus struct {
	Family    netinfo.Family `json:"family"`
	Available bool           `json:"available"`
	Installed bool           `json:"installed"` // chains present and jumped to
	JumpFirst bool           `json:"jump_first"`
	InSync    bool           `json:"in_sync"`
	Diff      Diff           `json:"diff"`
	Rules     []RuleCounter  `json:"rules"`
	Env       Environment    `json:"environment"`
	Warnings  []string       `json:"warnings,omitempty"`
}

// Refused sums the counters of the rules that turn packets away: the
// attempts the firewall blocked in this family.
func (fs FamilyStatus) Refused() Counters {
	var c Counters
	for _, r := range fs.Rules {
		if r.Refuses() {
			c.Packets += r.Packets
			c.Bytes += r.Bytes
		}
	}
	return c
}

// Status is the firewall's state in every family.
type Status struct {
	Families []FamilyStatus `json:"families"`
}

// OK reports whether every available family is installed and in sync.
func (s Status) OK() bool {
	for _, f := range s.Families {
		if f.Available && (!f.Installed || !f.InSync) {
			return false
		}
	}
	return true
}

// Warnings gathers every family's warnings, prefixed with the family.
func (s Status) Warnings() []string {
	var out []string
	for _, f := range s.Families {
		for _, w := range f.Warnings {
			out = append(out, f.Family.String()+": "+w)
		}
	}
	return out
}

// ReadStatus compares the kernel with s and reads the owned rules'
// counters. It changes nothing.
func ReadStatus(ctx context.Context, a Applier, s Spec) (Status, error) {
	var st Status
	for _, f := range netinfo.Families {
		fs, err := familyStatus(ctx, a, s, f)
		if err != nil {
			return st, fmt.Errorf("reading %s firewall status: %w", f, err)
		}
		st.Families = append(st.Families, fs)
	}
	return st, nil
}

func familyStatus(ctx context.Context, a Applier, s Spec, f netinfo.Family) (FamilyStatus, error) {
	fs := FamilyStatus{Family: f}
	if err := a.Available(f); err != nil {
		fs.Warnings = append(fs.Warnings, fmt.Sprintf("%s skipped: %v", f, err))
		return fs, nil
	}
	fs.Available = true
	cur, err := readOwned(ctx, a, f)
	if err != nil {
		return fs, err
	}
	fs.Installed = cur.jump && slices.Contains(cur.chains, InputChain)
	want := NewRuleset(s, f)
	fs.Diff = Compare(want, cur.rules, cur.chains)
	sets, err := readSets(ctx, a, f)
	if err != nil {
		return fs, err
	}
	fs.Diff.Sets = compareSets(want.Sets, sets)
	fs.InSync = fs.Diff.InSync()
	for i, r := range cur.rules {
		fs.Rules = append(fs.Rules, RuleCounter{Chain: r.Chain, Comment: r.Comment, Source: r.Source,
			Proto: r.Proto, Verdict: verdictOf(r.Target), Counters: cur.counters[i]})
	}
	fs.JumpFirst = cur.jumpFirst
	if fs.Env, err = a.Environment(ctx, f); err != nil {
		return fs, err
	}
	fs.Warnings = append(fs.Warnings, warnings(fs, s)...)
	return fs, nil
}

// verdictOf names a builtin target in lower case and keeps a chain's name.
func verdictOf(target string) string {
	switch target {
	case "REJECT":
		return string(policy.VerdictReject)
	case "DROP":
		return string(policy.VerdictDrop)
	case "ACCEPT", "RETURN":
		return strings.ToLower(target)
	}
	return target
}

func warnings(fs FamilyStatus, s Spec) []string {
	var w []string
	if !fs.Installed {
		w = append(w, "cachectl's rules are not installed")
	} else if !fs.JumpFirst {
		w = append(w, "the jump to "+InputChain+" is not rule #1 of INPUT: rules above it decide first")
	}
	if fs.Env.OtherBackendRules {
		w = append(w, fmt.Sprintf("the other iptables backend (not %s) also holds CACHECTL rules; remove them with its tools", fs.Env.Backend))
	}
	for _, fw := range fs.Env.Firewalls {
		w = append(w, fw+" is installed: its reload can drop cachectl's chains; re-run cachectl apply afterwards")
	}
	for _, n := range fs.Env.NAT {
		if mentionsPort(n, s.Port) || (s.UDPPort != 0 && mentionsPort(n, s.UDPPort)) {
			w = append(w, "nat rule redirects the cache port, and that traffic takes FORWARD, not INPUT: "+n)
		}
	}
	return w
}

func mentionsPort(rule string, port uint16) bool {
	p := strconv.Itoa(int(port))
	return strings.Contains(rule, "--dport "+p) || strings.Contains(rule, ":"+p+" ") ||
		strings.HasSuffix(rule, ":"+p) || strings.Contains(rule, "--to-ports "+p)
}
