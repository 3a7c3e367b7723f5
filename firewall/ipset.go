package firewall

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/cachectl/cachectl/netinfo"
)

// SetThreshold is the allowlist size above which a family's peers are
// matched with one ipset lookup instead of one rule each. Every packet to
// the port walks the allow rules (there is no ESTABLISHED shortcut), and
// measured here (BenchmarkConnectLinear) a linear chain costs ~7-11 ns per
// rule per packet: nothing at 64 rules, 50-110 µs per packet at 10,000,
// where loading it also takes 1.1 s instead of 0.3 s. A hash:net set costs
// the same at any size.
const SetThreshold = 64

// setThreshold is SetThreshold; benchmarks raise it to measure the linear
// chain at sizes where Apply would use a set.
var setThreshold = SetThreshold

// SetPrefix marks every ipset cachectl owns.
const SetPrefix = "cachectl-"

// setParams are fixed so that `create -exist` of an existing set succeeds
// and a temporary set can always be swapped with it.
const setParams = "hash:net family %s hashsize 1024 maxelem 1048576"

// Set is an ipset holding a family's allowed peers.
type Set struct {
	Name    string
	Family  netinfo.Family
	Members []netip.Prefix // canonical: masked, sorted, no duplicates, no /0
}

// SetName is the family's allowlist set. The family is in the name because
// ipsets, unlike chains, are shared by both families of a namespace.
func SetName(f netinfo.Family) string { return fmt.Sprintf("%sallow-v%d", SetPrefix, int(f)) }

func setFamily(name string) netinfo.Family {
	if strings.HasSuffix(name, "-v6") {
		return netinfo.IPv6
	}
	return netinfo.IPv4
}

func (s Set) tmpName() string { return s.Name + "-tmp" }

func (s Set) createLine(name string) string {
	fam := "inet"
	if s.Family == netinfo.IPv6 {
		fam = "inet6"
	}
	return "create " + name + " " + fmt.Sprintf(setParams, fam) + " -exist"
}

// SetsHeader opens every ipset payload; ipset restore skips # lines.
func SetsHeader(f netinfo.Family) string {
	return fmt.Sprintf("# cachectl %s allowlist sets (ipset restore)", f)
}

// RenderSets returns the `ipset restore` payload that fills the family's
// sets atomically: the members go into a temporary set, which is swapped
// with the live one, so matching never sees a half-filled set. Empty when
// the allowlist is small enough for plain rules.
func (rs Ruleset) RenderSets() []byte {
	if len(rs.Sets) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(SetsHeader(rs.Family) + "\n")
	for _, s := range rs.Sets {
		writeSetSwap(&b, s)
	}
	return b.Bytes()
}

func writeSetSwap(b *bytes.Buffer, s Set) {
	b.WriteString(s.createLine(s.Name) + "\n")
	b.WriteString(s.createLine(s.tmpName()) + "\n")
	b.WriteString("flush " + s.tmpName() + "\n")
	for _, p := range s.Members {
		b.WriteString("add " + s.tmpName() + " " + p.String() + "\n")
	}
	b.WriteString("swap " + s.tmpName() + " " + s.Name + "\n")
	b.WriteString("destroy " + s.tmpName() + "\n")
}

// ensureSetsPayload creates the family's sets, empty, if they are missing.
// iptables-restore --test refuses a rule naming a set that does not exist,
// so they must exist before the check; an empty unreferenced set changes
// nothing in force.
func (rs Ruleset) ensureSetsPayload() []byte {
	var b bytes.Buffer
	for _, s := range rs.Sets {
		b.WriteString(s.createLine(s.Name) + "\n")
	}
	return b.Bytes()
}

func destroySetsPayload(names []string) []byte {
	var b bytes.Buffer
	for _, n := range names {
		b.WriteString("destroy " + n + "\n")
	}
	return b.Bytes()
}

// parseSets reads the owned sets of one family from `ipset save`.
func parseSets(save []byte, f netinfo.Family) (map[string][]netip.Prefix, error) {
	all, err := ParseIPSets(save)
	if err != nil {
		return nil, err
	}
	sets := map[string][]netip.Prefix{}
	for name, s := range all {
		if !strings.HasPrefix(name, SetPrefix) || setFamily(name) != f {
			continue
		}
		if s.Unreadable != "" {
			return nil, fmt.Errorf("ipset %s: %s", name, s.Unreadable)
		}
		ms := slices.Clone(s.Members)
		slices.SortFunc(ms, netinfo.ComparePrefix)
		sets[name] = slices.Compact(ms)
	}
	return sets, nil
}

// compareSets reports, per wanted set, members missing or unexpected.
func compareSets(want []Set, got map[string][]netip.Prefix) []string {
	var out []string
	for _, s := range want {
		have, ok := got[s.Name]
		if !ok {
			out = append(out, "set "+s.Name+" is missing")
			continue
		}
		var missing, extra int
		for _, p := range s.Members {
			if _, found := slices.BinarySearchFunc(have, p, netinfo.ComparePrefix); !found {
				missing++
			}
		}
		for _, p := range have {
			if _, found := slices.BinarySearchFunc(s.Members, p, netinfo.ComparePrefix); !found {
				extra++
			}
		}
		if missing+extra > 0 {
			out = append(out, fmt.Sprintf("set %s: %d members missing, %d unexpected", s.Name, missing, extra))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(got)) {
		if !slices.ContainsFunc(want, func(s Set) bool { return s.Name == n }) {
			out = append(out, "set "+n+" is not wanted")
		}
	}
	return out
}

func readSets(ctx context.Context, a Applier, f netinfo.Family) (map[string][]netip.Prefix, error) {
	save, err := a.SaveSets(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading %s sets: %w", f, err)
	}
	return parseSets(save, f)
}
