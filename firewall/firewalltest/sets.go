package firewalltest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cachectl/cachectl/firewall"
)

// SetsAvailable implements firewall.Applier.
func (f *Fake) SetsAvailable() error { return f.NoIPSet }

// RestoreSets implements firewall.Applier. Like ipset restore it is not
// one transaction: the lines before a bad one stay applied.
func (f *Fake) RestoreSets(_ context.Context, payload []byte) error {
	if f.NoIPSet != nil {
		return f.NoIPSet
	}
	for i, l := range strings.Split(string(payload), "\n") {
		if err := f.setLine(l); err != nil {
			return firewall.NewSetsRestoreError(payload, i+1, err.Error(), err)
		}
	}
	return nil
}

func (f *Fake) setLine(l string) error {
	fs := strings.Fields(l)
	if len(fs) == 0 || strings.HasPrefix(fs[0], "#") {
		return nil
	}
	if len(fs) < 2 {
		return fmt.Errorf("bad ipset line %q", l)
	}
	_, exists := f.sets[fs[1]]
	if fs[0] != "create" && !exists {
		return fmt.Errorf("set %s does not exist", fs[1])
	}
	switch fs[0] {
	case "create":
		if exists && fs[len(fs)-1] != "-exist" {
			return fmt.Errorf("set %s exists", fs[1])
		}
		if !exists {
			f.sets[fs[1]] = []string{}
		}
	case "flush":
		f.sets[fs[1]] = []string{}
	case "add":
		if len(fs) < 3 {
			return fmt.Errorf("bad ipset line %q", l)
		}
		f.sets[fs[1]] = append(f.sets[fs[1]], fs[2])
	case "swap":
		if _, ok := f.sets[fs[2]]; len(fs) < 3 || !ok {
			return fmt.Errorf("bad ipset swap %q", l)
		}
		f.sets[fs[1]], f.sets[fs[2]] = f.sets[fs[2]], f.sets[fs[1]]
	case "destroy":
		for _, t := range f.tables {
			if strings.Contains(t.save(nil), "--match-set "+fs[1]+" ") {
				return fmt.Errorf("set %s is in use", fs[1])
			}
		}
		delete(f.sets, fs[1])
	default:
		return fmt.Errorf("bad ipset line %q", l)
	}
	return nil
}

// SaveSets implements firewall.Applier.
func (f *Fake) SaveSets(context.Context) ([]byte, error) {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(f.sets)) {
		fmt.Fprintf(&b, "create %s hash:net family inet hashsize 1024 maxelem 1048576\n", n)
		for _, m := range f.sets[n] {
			fmt.Fprintf(&b, "add %s %s\n", n, m)
		}
	}
	return []byte(b.String()), nil
}
