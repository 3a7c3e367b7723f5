package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Rule is one iptables rule in the few shapes cachectl writes. The same
// struct is parsed back from iptables-save, which reorders options, adds
// `-m tcp` and unquotes comments; comparing Rules (never raw text) is what
// makes read-back verification and drift detection reliable.
type Rule struct {
	Chain      string
	Source     netip.Prefix // zero: any source
	InIface    string
	Proto      string // "tcp", "udp" or "" for any
	DPort      uint16
	CTState    string
	MatchSet   string // ipset matched against the source address
	Comment    string
	Target     string // ACCEPT, DROP, REJECT or a chain name
	RejectWith string
	SetXMark   string // CONNMARK's VALUE/MASK, as iptables-save prints it
	// Extra holds options cachectl never writes, so a rule someone edited
	// by hand compares unequal instead of being silently accepted.
	Extra string
}

// Spec renders the rule's options in cachectl's fixed order, after "-A CHAIN".
func (r Rule) Spec() []string {
	var a []string
	if r.Source.IsValid() {
		a = append(a, "-s", r.Source.String())
	}
	if r.InIface != "" {
		a = append(a, "-i", r.InIface)
	}
	if r.Proto != "" {
		a = append(a, "-p", r.Proto)
		if r.DPort != 0 {
			a = append(a, "-m", r.Proto, "--dport", strconv.Itoa(int(r.DPort)))
		}
	}
	if r.CTState != "" {
		a = append(a, "-m", "conntrack", "--ctstate", r.CTState)
	}
	if r.MatchSet != "" {
		a = append(a, "-m", "set", "--match-set", r.MatchSet, "src")
	}
	if r.Comment != "" {
		a = append(a, "-m", "comment", "--comment", r.Comment)
	}
	a = append(a, "-j", r.Target)
	if r.RejectWith != "" {
		a = append(a, "--reject-with", r.RejectWith)
	}
	if r.SetXMark != "" {
		a = append(a, "--set-xmark", r.SetXMark)
	}
	return a
}

// String is the rule as an iptables-restore line. Comments are always
// quoted; cachectl's comments never contain a quote or backslash.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString("-A ")
	b.WriteString(r.Chain)
	spec := r.Spec()
	for i, s := range spec {
		b.WriteByte(' ')
		if i > 0 && spec[i-1] == "--comment" {
			b.WriteString(strconv.Quote(s))
			continue
		}
		b.WriteString(s)
	}
	return b.String()
}

// Counters are packets and bytes as the kernel counted them: for an
// iptables rule, or for one direction of a conntrack flow (the audit's,
// zero there unless net.netfilter.nf_conntrack_acct=1).
type Counters struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// ParseRule reads one "-A CHAIN ..." line as printed by iptables-save or
// `iptables -S`, with optional counters: a leading "[P:B]" (iptables-save
// -c) or a "-c P B" option (iptables -v -S).
func ParseRule(line string) (Rule, Counters, error) {
	var r Rule
	var c Counters
	toks, err := splitArgs(line)
	if err != nil {
		return r, c, err
	}
	if len(toks) > 0 && strings.HasPrefix(toks[0], "[") {
		if c, err = parseBracketCounters(toks[0]); err != nil {
			return r, c, err
		}
		toks = toks[1:]
	}
	var extra []string
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		val := func() (string, error) {
			if i+1 >= len(toks) {
				return "", fmt.Errorf("option %s without a value in %q", tok, line)
			}
			i++
			return toks[i], nil
		}
		var v string
		switch tok {
		case "-m": // match modules are implied by their options
			if v, err = val(); err == nil && v != "tcp" && v != "udp" && v != "conntrack" && v != "comment" && v != "set" {
				extra = append(extra, "-m", v)
			}
		case "-c":
			var p, b string
			if p, err = val(); err == nil {
				if b, err = val(); err == nil {
					c, err = parseCounterPair(p, b)
				}
			}
		case "-s":
			if v, err = val(); err == nil {
				var perr error
				if r.Source, perr = parseMasked(v); errors.Is(perr, errNonContiguous) {
					extra = append(extra, "-s", v) // a host's own rule; never cachectl's
				} else {
					err = perr
				}
			}
		case "--dport":
			if v, err = val(); err == nil {
				// A host's own rules may hold a range (8000:8999) or a
				// service name: not a shape cachectl writes, so Extra.
				if n, perr := strconv.ParseUint(v, 10, 16); perr == nil {
					r.DPort = uint16(n)
				} else {
					extra = append(extra, "--dport", v)
				}
			}
		case "--match-set":
			if r.MatchSet, err = val(); err == nil {
				if v, err = val(); err == nil && v != "src" {
					extra = append(extra, "--match-set", r.MatchSet, v)
				}
			}
		default:
			if f := r.plainOption(tok); f != nil {
				*f, err = val()
			} else {
				extra = append(extra, tok)
			}
		}
		if err != nil {
			return r, c, fmt.Errorf("parsing rule %q: %w", line, err)
		}
	}
	if r.Chain == "" {
		return r, c, fmt.Errorf("parsing rule %q: no -A CHAIN", line)
	}
	r.Extra = strings.Join(extra, " ")
	return r, c, nil
}

// plainOption is the field an option sets to its value as written, or nil
// for an option whose value needs reading (or that is not cachectl's).
func (r *Rule) plainOption(tok string) *string {
	switch tok {
	case "-A":
		return &r.Chain
	case "-i":
		return &r.InIface
	case "-p":
		return &r.Proto
	case "--ctstate":
		return &r.CTState
	case "--comment":
		return &r.Comment
	case "-j":
		return &r.Target
	case "--reject-with":
		return &r.RejectWith
	case "--set-xmark":
		return &r.SetXMark
	}
	return nil
}

// parseSource accepts a prefix or a bare address (iptables prints /32 and
// /128, but be liberal in what is read back).
func parseSource(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("source %q is not an address or prefix", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseBracketCounters(s string) (Counters, error) {
	p, b, ok := strings.Cut(strings.Trim(s, "[]"), ":")
	if !ok {
		return Counters{}, fmt.Errorf("counters %q are not [packets:bytes]", s)
	}
	return parseCounterPair(p, b)
}

func parseCounterPair(p, b string) (Counters, error) {
	pk, err1 := strconv.ParseUint(p, 10, 64)
	by, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return Counters{}, fmt.Errorf("counters %q %q are not numbers", p, b)
	}
	return Counters{Packets: pk, Bytes: by}, nil
}

// splitArgs splits like a shell without expansion: whitespace separates,
// double quotes group, a backslash escapes the next character.
func splitArgs(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inTok, inQuote := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inTok = true
		case ch == '"':
			inQuote = !inQuote
			inTok = true
		case (ch == ' ' || ch == '\t') && !inQuote:
			if inTok {
				out = append(out, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteByte(ch)
			inTok = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inTok {
		out = append(out, cur.String())
	}
	return out, nil
}
