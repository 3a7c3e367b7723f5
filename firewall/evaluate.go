package firewall

import (
	"fmt"
	"net/netip"
	"strings"
)

// Filter is one family's filter table as iptables-save -c prints it: every
// chain, cachectl's and the host's, with policies, rules and counters. It
// is what Evaluate walks, so a verdict comes from the rules the kernel
// holds, not from what the policy would render.
type Filter struct {
	Chains map[string]*Chain
	Order  []string // chains as the save listed them
}

// Chain is one chain of a Filter.
type Chain struct {
	Name string
	// Policy is ACCEPT or DROP for a builtin chain, "" for a user chain
	// (which returns to its caller when it runs out of rules).
	Policy   string
	Counters Counters // of the policy: packets that fell off the end
	Rules    []LoadedRule
}

// LoadedRule is one rule of a chain as it was loaded.
type LoadedRule struct {
	Num      int    // 1-based position in its chain, as `iptables -L --line-numbers` counts
	Text     string // the -A line without counters
	Counters Counters
	Rule     Rule // ParseRule's view: target, comment, source...
	terms    []term
	jump     jump
}

// jump is what a rule does when it matches.
type jump struct {
	target string // ACCEPT, DROP, REJECT, RETURN, a chain, or another target
	gotoTo bool   // -g: the called chain returns to this chain's caller
}

// ParseFilter reads the filter table out of `iptables-save -c` (or
// `iptables-save`: counters are optional, so a restore payload of -A lines
// reads too). Rule lines are split with the tokenizer ParseRule uses and
// read by ParseRule as well, so both views agree on every rule.
func ParseFilter(save []byte) (Filter, error) {
	t := Filter{Chains: map[string]*Chain{}}
	inFilter := false
	for n, l := range strings.Split(string(save), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "*"):
			inFilter = l == "*"+Table
		case !inFilter, l == "", strings.HasPrefix(l, "#"), l == "COMMIT":
		case strings.HasPrefix(l, ":"):
			if err := t.addChain(l); err != nil {
				return t, fmt.Errorf("iptables-save line %d: %w", n+1, err)
			}
		case strings.HasPrefix(l, "-A "), strings.HasPrefix(l, "["):
			if err := t.addRule(l); err != nil {
				return t, fmt.Errorf("iptables-save line %d: %w", n+1, err)
			}
		}
	}
	return t, nil
}

// addChain reads ":NAME POLICY [packets:bytes]"; POLICY is "-" for a user chain.
func (t *Filter) addChain(l string) error {
	f := strings.Fields(l[1:])
	if len(f) == 0 {
		return fmt.Errorf("chain line %q has no name", l)
	}
	c := &Chain{Name: f[0]}
	if len(f) > 1 && f[1] != "-" {
		c.Policy = f[1]
	}
	if len(f) > 2 {
		var err error
		if c.Counters, err = parseBracketCounters(f[2]); err != nil {
			return err
		}
	}
	if _, dup := t.Chains[c.Name]; !dup {
		t.Order = append(t.Order, c.Name)
	}
	t.Chains[c.Name] = c
	return nil
}

func (t *Filter) addRule(l string) error {
	r, c, err := ParseRule(l)
	if err != nil {
		return err
	}
	terms, j, err := parseTerms(stripCounters(l))
	if err != nil {
		return err
	}
	ch := t.Chains[r.Chain]
	if ch == nil {
		// iptables-save declares every chain first; a hand-written file
		// may not, and a builtin then has the kernel's default policy.
		ch = &Chain{Name: r.Chain}
		if isBuiltin(r.Chain) {
			ch.Policy = "ACCEPT"
		}
		t.Chains[r.Chain] = ch
		t.Order = append(t.Order, r.Chain)
	}
	ch.Rules = append(ch.Rules, LoadedRule{Num: len(ch.Rules) + 1, Text: stripCounters(l),
		Counters: c, Rule: r, terms: terms, jump: j})
	return nil
}

func isBuiltin(chain string) bool {
	return chain == "INPUT" || chain == "FORWARD" || chain == "OUTPUT"
}

// Packet is the first packet of a connection attempt, as the filter
// table's INPUT chain sees it.
type Packet struct {
	Proto   string     // "tcp" or "udp"
	Src     netip.Addr // the peer
	Dst     netip.Addr // the local address it is sent to; invalid when unknown
	DPort   uint16
	InIface string // the interface it arrives on; "" when unknown
	// CTState is its conntrack state; a connection's first packet is NEW.
	CTState string
}

// Outcome is what the table does with a packet.
type Outcome string

// Outcomes. Uncertain means a rule the evaluator cannot read decides
// whether the packet goes on; it never guesses.
const (
	Accepted  Outcome = "accept"
	Rejected  Outcome = "reject"
	Dropped   Outcome = "drop"
	Uncertain Outcome = "uncertain"
)

// Decision is the outcome with the rule that decided it.
type Decision struct {
	Outcome Outcome `json:"outcome"`
	Chain   string  `json:"chain"`
	// Rule is the deciding rule's number in Chain; 0 when the chain's
	// policy decided (no rule matched).
	Rule     int      `json:"rule"`
	Text     string   `json:"text"`
	Counters Counters `json:"counters"`
	// Path lists the rules that sent the packet on, "CHAIN#N", ending at
	// the deciding one.
	Path []string `json:"path"`
	// Reason says why the outcome is uncertain.
	Reason string `json:"reason,omitempty"`
}

// Refused reports whether the packet is turned away.
func (d Decision) Refused() bool { return d.Outcome == Rejected || d.Outcome == Dropped }

// maxDepth bounds chain calls; iptables refuses loops, a hand-made file
// might still hold one.
const maxDepth = 64

// Evaluate follows p through INPUT and every chain it jumps to, with the
// ipsets a rule may match. Pure: t and sets are literal values.
func (t Filter) Evaluate(p Packet, sets IPSets) Decision {
	if t.Chains["INPUT"] == nil {
		return Decision{Outcome: Accepted, Chain: "INPUT", Text: "no INPUT chain in the filter table: nothing filters",
			Path: []string{}}
	}
	w := walker{t: t, p: p, sets: sets}
	d, returned := w.chain("INPUT", 0)
	if returned { // only a RETURN in INPUT itself ends here: the policy decides
		return w.policy(t.Chains["INPUT"])
	}
	return d
}

type walker struct {
	t    Filter
	p    Packet
	sets IPSets
	path []string
}

// chain walks one chain. returned is true when the packet came back out of
// it (no rule decided): then the caller goes on with its next rule.
func (w *walker) chain(name string, depth int) (d Decision, returned bool) {
	ch := w.t.Chains[name]
	if ch == nil || depth > maxDepth {
		return w.uncertain(name, nil, fmt.Sprintf("chain %s is missing or the jumps nest deeper than %d", name, maxDepth)), false
	}
	for i := range ch.Rules {
		r := &ch.Rules[i]
		m, why := r.matches(w.p, w.sets)
		if m == no {
			continue
		}
		if m == unknown {
			return w.uncertain(name, r, why), false
		}
		d, done, ret := w.target(ch, r, depth)
		if ret {
			return Decision{}, true
		}
		if done {
			return d, false
		}
	}
	if ch.Policy != "" {
		return w.policy(ch), false
	}
	return Decision{}, true
}

// target applies a matched rule: done when the packet's fate is decided,
// ret when the chain returns to its caller.
func (w *walker) target(ch *Chain, r *LoadedRule, depth int) (d Decision, done, ret bool) {
	step := fmt.Sprintf("%s#%d", ch.Name, r.Num)
	switch t := r.jump.target; {
	case t == "ACCEPT", t == "DROP", t == "REJECT":
		w.path = append(w.path, step)
		out := map[string]Outcome{"ACCEPT": Accepted, "DROP": Dropped, "REJECT": Rejected}[t]
		return Decision{Outcome: out, Chain: ch.Name, Rule: r.Num, Text: r.Text, Counters: r.Counters, Path: w.path}, true, false
	case t == "RETURN":
		return Decision{}, false, true
	case t == "" || nonTerminating[t]:
		return Decision{}, false, false // counts or logs, and the packet goes on
	case w.t.Chains[t] != nil:
		w.path = append(w.path, step)
		sub, returned := w.chain(t, depth+1)
		if !returned {
			return sub, true, false
		}
		w.path = w.path[:len(w.path)-1]
		return Decision{}, false, r.jump.gotoTo // after -g, back to the caller
	}
	return w.uncertain(ch.Name, r, fmt.Sprintf("target %s is not one the evaluator knows", r.jump.target)), true, false
}

// nonTerminating targets let the packet go on to the next rule. Ones that
// change the packet (MARK, CONNMARK) matter only to a later match of the
// mark, which the evaluator does not read and so reports as uncertain.
var nonTerminating = map[string]bool{"LOG": true, "NFLOG": true, "ULOG": true, "AUDIT": true,
	"TRACE": true, "MARK": true, "CONNMARK": true, "NOTRACK": true}

func (w *walker) policy(ch *Chain) Decision {
	out := Accepted
	if ch.Policy == "DROP" {
		out = Dropped
	}
	return Decision{Outcome: out, Chain: ch.Name, Text: "policy " + ch.Policy, Counters: ch.Counters, Path: append(w.path, ch.Name+"#policy")}
}

func (w *walker) uncertain(chain string, r *LoadedRule, why string) Decision {
	d := Decision{Outcome: Uncertain, Chain: chain, Reason: why, Path: w.path}
	if r != nil {
		d.Rule, d.Text, d.Counters = r.Num, r.Text, r.Counters
		d.Path = append(w.path, fmt.Sprintf("%s#%d", chain, r.Num))
	}
	return d
}
