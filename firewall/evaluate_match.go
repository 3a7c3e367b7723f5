package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// tri is a match result: the evaluator knows the rule matches, knows it
// does not, or cannot tell.
type tri int8

const (
	no tri = iota
	yes
	unknown
)

// term is one match of a rule: an option with its values, possibly negated.
type term struct {
	module string // the -m that brought the option in, "" for the builtins
	opt    string
	args   []string
	negate bool
}

func (t term) String() string {
	var b strings.Builder
	if t.module != "" {
		b.WriteString("-m " + t.module + " ")
	}
	if t.negate {
		b.WriteString("! ")
	}
	b.WriteString(strings.Join(append([]string{t.opt}, t.args...), " "))
	return b.String()
}

// arity is the number of values each understood option takes.
var arity = map[string]int{
	"-s": 1, "--source": 1, "-d": 1, "--destination": 1, "-p": 1, "--protocol": 1,
	"-i": 1, "--in-interface": 1, "-o": 1, "--out-interface": 1,
	"--dport": 1, "--destination-port": 1, "--dports": 1, "--destination-ports": 1,
	"--sport": 1, "--source-port": 1, "--sports": 1, "--source-ports": 1, "--ports": 1,
	"--ctstate": 1, "--state": 1, "--match-set": 2, "--comment": 1,
	"--tcp-flags": 2, "--syn": 0, "-f": 0, "--fragment": 0,
}

// parseTerms splits an -A line (counters already stripped) into its match
// terms and its target, with the tokenizer ParseRule uses. Options after
// the target are the target's own (--reject-with, --log-prefix).
func parseTerms(line string) ([]term, jump, error) {
	toks, err := splitArgs(line)
	if err != nil {
		return nil, jump{}, err
	}
	var terms []term
	var j jump
	module, negate := "", false
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		switch tok {
		case "-A", "--append":
			i++
			continue
		case "-c":
			i += 2
			continue
		case "!":
			negate = true
			continue
		case "-m", "--match":
			if i+1 < len(toks) {
				module = toks[i+1]
			}
			i++
			continue
		case "-j", "--jump", "-g", "--goto":
			if i+1 >= len(toks) {
				return nil, j, fmt.Errorf("%s without a target in %q", tok, line)
			}
			j = jump{target: toks[i+1], gotoTo: tok == "-g" || tok == "--goto"}
			return terms, j, nil
		}
		n, known := arity[tok]
		if !known { // an option the evaluator does not read: keep its values for the message
			for n = 0; i+1+n < len(toks) && !strings.HasPrefix(toks[i+1+n], "-") && toks[i+1+n] != "!"; n++ {
			}
		}
		if i+n >= len(toks) {
			return nil, j, fmt.Errorf("option %s without its value in %q", tok, line)
		}
		terms = append(terms, term{module: module, opt: tok, args: toks[i+1 : i+1+n], negate: negate})
		i += n
		negate = false
	}
	return terms, j, nil
}

// matches says whether the rule matches p: no as soon as one term does
// not (an unreadable term elsewhere cannot change that), otherwise unknown
// naming the first term it cannot read, otherwise yes.
func (r *LoadedRule) matches(p Packet, sets IPSets) (tri, string) {
	result, why := yes, ""
	for _, t := range r.terms {
		m, reason := t.match(p, sets)
		if t.negate && m != unknown {
			m = map[tri]tri{yes: no, no: yes}[m]
		}
		switch {
		case m == no:
			return no, ""
		case m == unknown && result == yes:
			result, why = unknown, fmt.Sprintf("%q: %s", t.String(), reason)
		}
	}
	return result, why
}

func (t term) match(p Packet, sets IPSets) (tri, string) {
	switch t.opt {
	case "-s", "--source":
		return addrIn(p.Src, t.args[0])
	case "-d", "--destination":
		if !p.Dst.IsValid() {
			return unknown, "the local address the peer would send to is not known"
		}
		return addrIn(p.Dst, t.args[0])
	case "-p", "--protocol":
		return protoIs(p.Proto, t.args[0]), ""
	case "-i", "--in-interface":
		if p.InIface == "" {
			return unknown, "the interface the peer's packets arrive on is not known"
		}
		return ifaceIs(p.InIface, t.args[0]), ""
	case "-o", "--out-interface":
		return no, "" // INPUT has no output interface
	case "--dport", "--destination-port", "--dports", "--destination-ports":
		return portIn(p.DPort, t.args[0])
	case "--ports":
		if m, why := portIn(p.DPort, t.args[0]); m != no {
			return m, why
		}
		return unknown, "it also matches the source port, which the peer chooses"
	case "--sport", "--source-port", "--sports", "--source-ports":
		return unknown, "the source port is chosen by the peer for each connection"
	case "--ctstate", "--state":
		return boolTri(slices.Contains(strings.Split(t.args[0], ","), p.CTState)), ""
	case "--match-set":
		return sets.match(t.args[0], t.args[1], p)
	case "--comment":
		return yes, ""
	case "--syn":
		return boolTri(p.Proto == "tcp"), "" // a connection's first packet is its SYN
	case "--tcp-flags":
		return synMatches(t.args[0], t.args[1])
	case "-f", "--fragment":
		return no, "" // a connection's first packet is never a later fragment
	}
	return unknown, "the evaluator does not read this match"
}

func boolTri(b bool) tri {
	if b {
		return yes
	}
	return no
}

// addrIn matches an address against iptables' "ADDR[/LEN|/MASK]" (a
// comma list when written by hand).
func addrIn(a netip.Addr, spec string) (tri, string) {
	for _, s := range strings.Split(spec, ",") {
		pfx, err := parseMasked(s)
		if err != nil {
			return unknown, err.Error()
		}
		if pfx.Contains(a) {
			return yes, ""
		}
	}
	return no, ""
}

// errNonContiguous is a mask such as 255.0.255.0, which no prefix length
// expresses; iptables-save prints such masks dotted.
var errNonContiguous = errors.New("the mask is not contiguous")

// parseMasked also reads a dotted mask (10.0.0.0/255.255.255.0), which
// iptables-save prints for a mask that is not a prefix length.
func parseMasked(s string) (netip.Prefix, error) {
	addr, mask, ok := strings.Cut(s, "/")
	if !ok || !strings.Contains(mask, ".") {
		return parseSource(s)
	}
	a, err1 := netip.ParseAddr(addr)
	m, err2 := netip.ParseAddr(mask)
	if err1 != nil || err2 != nil || !m.Is4() {
		return netip.Prefix{}, fmt.Errorf("address %q is not one the evaluator reads", s)
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	bits := 0
	for v&(1<<31) != 0 {
		bits, v = bits+1, v<<1
	}
	if v != 0 {
		return netip.Prefix{}, fmt.Errorf("%w: %s", errNonContiguous, mask)
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

var protoNumbers = map[string]string{"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}

func protoIs(proto, spec string) tri {
	spec = strings.ToLower(spec)
	if n, ok := protoNumbers[spec]; ok {
		spec = n
	}
	return boolTri(spec == "all" || spec == "0" || spec == proto)
}

// ifaceIs matches an interface name; a trailing + matches any suffix.
func ifaceIs(name, spec string) tri {
	if p, ok := strings.CutSuffix(spec, "+"); ok {
		return boolTri(strings.HasPrefix(name, p))
	}
	return boolTri(name == spec)
}

// portIn matches "P", "LO:HI" or a multiport list of them.
func portIn(port uint16, spec string) (tri, string) {
	for _, s := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(s, ":")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.ParseUint(orDefault(lo, "0"), 10, 16)
		h, err2 := strconv.ParseUint(orDefault(hi, "65535"), 10, 16)
		if err1 != nil || err2 != nil {
			return unknown, fmt.Sprintf("port %q is not a number (service names are not read)", s)
		}
		if uint64(port) >= l && uint64(port) <= h {
			return yes, ""
		}
	}
	return no, ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// synMatches evaluates --tcp-flags MASK COMP for a bare SYN.
func synMatches(mask, comp string) (tri, string) {
	set := func(s string) (map[string]bool, bool) {
		m := map[string]bool{}
		for _, f := range strings.Split(strings.ToUpper(s), ",") {
			switch f {
			case "ALL":
				for _, g := range []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"} {
					m[g] = true
				}
			case "NONE":
			case "FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR":
				m[f] = true
			default:
				return nil, false
			}
		}
		return m, true
	}
	ms, ok1 := set(mask)
	cs, ok2 := set(comp)
	if !ok1 || !ok2 {
		return unknown, "unknown TCP flag names"
	}
	for f := range ms {
		if (f == "SYN") != cs[f] {
			return no, ""
		}
	}
	return yes, ""
}
