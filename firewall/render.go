package firewall

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

// Ruleset is the complete content of cachectl's chains for one family.
// It is a value: building and rendering it touch nothing.
type Ruleset struct {
	Family netinfo.Family
	Chains []string // owned chains, InputChain first
	Rules  []Rule   // in load order
	Sets   []Set    // ipsets the rules match, for large allowlists
}

// NewRuleset builds the family's ruleset from a validated Spec.
//
// Layout: INPUT jumps (separately) to CACHECTL-INPUT, which sends the cache
// port's TCP (and UDP, when enabled) to CACHECTL-P<port>. That chain drops
// conntrack-INVALID packets (the rule also switches conntrack on in the
// namespace, which the audit needs), marks the flow (see ConnMark) so the
// audit can dump the cache's flows alone, accepts loopback and each allowed
// prefix, and ends in the default verdict. There is deliberately no
// ESTABLISHED shortcut: revoking a peer cuts its open connections on their
// next packet.
func NewRuleset(s Spec, f netinfo.Family) Ruleset {
	rs := Ruleset{Family: f, Chains: []string{InputChain}}
	ports := map[uint16][]string{s.Port: {"tcp"}}
	if s.UDPPort != 0 {
		ports[s.UDPPort] = append(ports[s.UDPPort], "udp")
	}
	for _, port := range slices.Sorted(maps.Keys(ports)) {
		chain := PortChain(port)
		rs.Chains = append(rs.Chains, chain)
		for _, proto := range ports[port] {
			rs.Rules = append(rs.Rules, Rule{Chain: InputChain, Proto: proto, DPort: port,
				Comment: fmt.Sprintf("cachectl: port %d/%s", port, proto), Target: chain})
		}
	}
	allow, set := splitAllow(Canonical(s.Allow, f), f)
	if set != nil {
		rs.Sets = append(rs.Sets, *set)
	}
	for _, port := range slices.Sorted(maps.Keys(ports)) {
		rules := portRules(PortChain(port), ports[port], allow, set, s, f)
		rs.Rules = append(rs.Rules, rules...)
	}
	return rs
}

// splitAllow moves the peers into a set when there are more than
// SetThreshold. A /0 (anyone) stays a rule: hash:net cannot hold it.
func splitAllow(allow []netip.Prefix, f netinfo.Family) ([]netip.Prefix, *Set) {
	var rules, members []netip.Prefix
	for _, p := range allow {
		if p.Bits() == 0 {
			rules = append(rules, p)
		} else {
			members = append(members, p)
		}
	}
	if len(members) <= setThreshold {
		return allow, nil
	}
	return rules, &Set{Name: SetName(f), Family: f, Members: members}
}

func portRules(chain string, protos []string, allow []netip.Prefix, set *Set, s Spec, f netinfo.Family) []Rule {
	rules := []Rule{{Chain: chain, CTState: "INVALID", Target: "DROP",
		Comment: "cachectl: drop invalid packets (also turns on conntrack for the audit)"}, markRule(chain)}
	if s.Loopback {
		rules = append(rules, loopbackRule(chain))
	}
	for _, p := range allow {
		src := p
		if p.Bits() == 0 {
			src = netip.Prefix{} // iptables prints "anywhere" as no -s at all
		}
		rules = append(rules, Rule{Chain: chain, Source: src, Target: "ACCEPT",
			Comment: "cachectl: allow " + p.String()})
	}
	if set != nil {
		rules = append(rules, Rule{Chain: chain, MatchSet: set.Name, Target: "ACCEPT",
			Comment: fmt.Sprintf("cachectl: allow the %d peers in set %s", len(set.Members), set.Name)})
	}
	for _, proto := range protos {
		rules = append(rules, denyRule(chain, proto, s.verdict(), f))
	}
	return rules
}

// loopbackRule accepts what arrives on lo. It matches the interface rather
// than 127.0.0.0/8 and ::1 because a local client talking to the host's LAN
// address arrives on lo with that LAN address as its source, which a
// prefix rule would reject; and lo only ever carries packets this host sent,
// so the rule cannot be used from outside (the kernel drops 127/8 and ::1
// sources arriving on other interfaces as martians).
func loopbackRule(chain string) Rule {
	return Rule{Chain: chain, InIface: "lo", Target: "ACCEPT", Comment: "cachectl: allow loopback"}
}

func denyRule(chain, proto string, v policy.Verdict, f netinfo.Family) Rule {
	r := Rule{Chain: chain, Proto: proto, Comment: fmt.Sprintf("cachectl: default %s %s", v, proto)}
	switch {
	case v == policy.VerdictDrop:
		r.Target = "DROP"
	case proto == "tcp":
		r.Target, r.RejectWith = "REJECT", "tcp-reset"
	case f == netinfo.IPv6:
		r.Target, r.RejectWith = "REJECT", "icmp6-port-unreachable"
	default:
		r.Target, r.RejectWith = "REJECT", "icmp-port-unreachable"
	}
	return r
}

// Canonical returns the family's prefixes in netinfo's canonical form and
// order; overlaps are kept, they are what the operator asked for.
func Canonical(ps []netip.Prefix, f netinfo.Family) []netip.Prefix {
	return slices.DeleteFunc(netinfo.CanonicalPrefixes(ps), func(p netip.Prefix) bool {
		return netinfo.FamilyOf(p.Addr()) != f
	})
}

// RestoreHeader is the comment line that opens every payload. It is part of
// the loaded bytes (iptables-restore skips # lines), so a dry-run that
// prints both families back to back is still exactly what gets loaded.
func RestoreHeader(f netinfo.Family) string {
	return fmt.Sprintf("# cachectl %s ruleset (%s --noflush)", f, restoreBinary(f))
}

// Render returns the exact iptables-restore --noflush payload. A chain line
// under --noflush flushes that chain only, so the load atomically replaces
// cachectl's chains and nothing else.
func (rs Ruleset) Render() []byte {
	var b bytes.Buffer
	b.WriteString(RestoreHeader(rs.Family) + "\n")
	b.WriteString("*" + Table + "\n")
	for _, c := range rs.Chains {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	for _, r := range rs.Rules {
		b.WriteString(r.String() + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

// Payload is one load Apply performs: the bytes and the program that reads
// them from stdin.
type Payload struct {
	Command string // e.g. "iptables-restore -w 5 --noflush"
	Bytes   []byte
}

// Payloads lists, in load order, everything Apply loads for the family:
// the allowlist sets (if any) and then the rules. Each starts with a #
// line naming its loader, which the loader skips, so printing them back to
// back is both readable and exactly what is loaded.
func (rs Ruleset) Payloads() []Payload {
	var out []Payload
	if p := rs.RenderSets(); p != nil {
		out = append(out, Payload{Command: "ipset restore", Bytes: p})
	}
	return append(out, Payload{Command: fmt.Sprintf("%s -w %d --noflush", restoreBinary(rs.Family), lockWait), Bytes: rs.Render()})
}

// deletePayload removes the given owned chains (which must no longer be
// jumped to from outside them): each is declared (flushing it) and then
// deleted, in one transaction.
func deletePayload(chains []string) []byte {
	var b bytes.Buffer
	b.WriteString("*" + Table + "\n")
	for _, c := range chains {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	for _, c := range chains {
		b.WriteString("-X " + c + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

// Binary is the family's iptables command; its -restore and -save
// companions are named after it.
func Binary(f netinfo.Family) string {
	if f == netinfo.IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

func restoreBinary(f netinfo.Family) string { return Binary(f) + "-restore" }
