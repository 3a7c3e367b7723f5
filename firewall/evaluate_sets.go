package firewall

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/cachectl/cachectl/netinfo"
)

// IPSets are the ipsets of a namespace as `ipset save` prints them, by name.
type IPSets map[string]IPSet

// IPSet is one set. Only hash:ip and hash:net hold plain addresses and
// networks; for any other type Unreadable says why a match on it cannot
// be judged.
type IPSet struct {
	Name       string
	Type       string
	Family     netinfo.Family
	Members    []netip.Prefix
	NoMatch    []netip.Prefix // hash:net entries added with "nomatch": carved out
	Unreadable string
}

// ParseIPSets reads `ipset save`. It never fails on a set it cannot read
// (another tool's hash:ip,port, say): that set is marked Unreadable, so a
// rule matching it becomes uncertain rather than the whole read failing.
func ParseIPSets(save []byte) (IPSets, error) {
	sets := IPSets{}
	for n, l := range strings.Split(string(save), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		switch f[0] {
		case "create":
			s := IPSet{Name: f[1], Type: f[2], Family: netinfo.IPv4}
			for i := 3; i+1 < len(f); i++ {
				if f[i] == "family" && f[i+1] == "inet6" {
					s.Family = netinfo.IPv6
				}
			}
			if s.Type != "hash:ip" && s.Type != "hash:net" {
				s.Unreadable = "set type " + s.Type + " is not one the evaluator reads"
			}
			sets[s.Name] = s
		case "add":
			s, ok := sets[f[1]]
			if !ok {
				return nil, fmt.Errorf("ipset save line %d: member of set %s before its create line", n+1, f[1])
			}
			if s.Unreadable == "" {
				s.add(f[2], f[3:])
			}
			sets[f[1]] = s
		}
	}
	return sets, nil
}

func (s *IPSet) add(member string, opts []string) {
	p, err := parseSource(member)
	if err != nil {
		s.Unreadable = fmt.Sprintf("member %q: %v", member, err)
		return
	}
	for _, o := range opts {
		if o == "nomatch" {
			s.NoMatch = append(s.NoMatch, p)
			return
		}
	}
	s.Members = append(s.Members, p)
}

// match is `-m set --match-set NAME FLAGS` for p.
func (sets IPSets) match(name, flags string, p Packet) (tri, string) {
	var a netip.Addr
	switch flags {
	case "src":
		a = p.Src
	case "dst":
		a = p.Dst
	default:
		return unknown, "only src and dst set matches are read"
	}
	if !a.IsValid() {
		return unknown, "the local address the peer would send to is not known"
	}
	s, ok := sets[name]
	switch {
	case !ok:
		return unknown, "set " + name + " is not in `ipset save` (is ipset installed?)"
	case s.Unreadable != "":
		return unknown, s.Unreadable
	case netinfo.FamilyOf(a) != s.Family:
		return no, ""
	}
	return boolTri(s.contains(a)), ""
}

// contains applies hash:net's rule: the most specific entry that covers
// the address decides, and a nomatch entry says no.
func (s IPSet) contains(a netip.Addr) bool {
	best, in := -1, false
	for _, p := range s.Members {
		if p.Contains(a) && p.Bits() > best {
			best, in = p.Bits(), true
		}
	}
	for _, p := range s.NoMatch {
		if p.Contains(a) && p.Bits() > best {
			best, in = p.Bits(), false
		}
	}
	return in
}
