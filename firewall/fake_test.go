package firewall

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cachectl/cachectl/netinfo"
)

// fakeTables models one family's filter table the way iptables-restore
// --noflush treats it: a payload is applied to a copy and the copy
// replaces the table only if every line succeeded.
type fakeTables struct {
	order []string            // chain order, builtins first
	rules map[string][]string // chain -> rule lines (as rendered)
	// setExists is asked for every -m set rule, like the kernel does.
	setExists func(string) bool
}

var builtins = []string{"INPUT", "FORWARD", "OUTPUT"}

func newFakeTables() *fakeTables {
	t := &fakeTables{rules: map[string][]string{}}
	for _, c := range builtins {
		t.order = append(t.order, c)
		t.rules[c] = nil
	}
	return t
}

func (t *fakeTables) clone() *fakeTables {
	c := &fakeTables{order: slices.Clone(t.order), rules: map[string][]string{}}
	for k, v := range t.rules {
		c.rules[k] = slices.Clone(v)
	}
	return c
}

func (t *fakeTables) save() string {
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, c := range t.order {
		if slices.Contains(builtins, c) {
			fmt.Fprintf(&b, ":%s ACCEPT [0:0]\n", c)
		} else {
			fmt.Fprintf(&b, ":%s - [0:0]\n", c)
		}
	}
	for _, c := range t.order {
		for _, r := range t.rules[c] {
			b.WriteString(r + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func (t *fakeTables) referenced(chain string) bool {
	for c, rs := range t.rules {
		for _, l := range rs {
			if r, _, err := ParseRule(l); err == nil && r.Target == chain && c != chain {
				return true
			}
		}
	}
	return false
}

// apply runs a payload's lines against t, failing like iptables-restore.
func (t *fakeTables) apply(payload string, setExists func(string) bool) error {
	t.setExists = setExists
	for i, l := range strings.Split(payload, "\n") {
		if err := t.applyLine(l); err != nil {
			return fmt.Errorf("line %d failed: %w", i+1, err)
		}
	}
	return nil
}

func (t *fakeTables) applyLine(l string) error {
	switch {
	case l == "" || strings.HasPrefix(l, "#") || l == "COMMIT":
	case strings.HasPrefix(l, "*"):
		if l != "*filter" {
			return fmt.Errorf("fake models only the filter table, got %s", l)
		}
	case strings.HasPrefix(l, ":"):
		c := strings.Fields(l[1:])[0]
		if _, ok := t.rules[c]; !ok {
			t.order = append(t.order, c)
		}
		t.rules[c] = nil // under --noflush a chain line flushes that chain only
	case strings.HasPrefix(l, "-X "):
		c := strings.TrimSpace(l[3:])
		if _, ok := t.rules[c]; !ok || slices.Contains(builtins, c) {
			return fmt.Errorf("no chain %s to delete", c)
		}
		if t.referenced(c) || len(t.rules[c]) > 0 {
			return fmt.Errorf("chain %s busy", c)
		}
		delete(t.rules, c)
		t.order = slices.DeleteFunc(t.order, func(s string) bool { return s == c })
	case strings.HasPrefix(l, "-A "):
		r, _, err := ParseRule(l)
		if err != nil {
			return err
		}
		if _, ok := t.rules[r.Chain]; !ok {
			return fmt.Errorf("no chain %s", r.Chain)
		}
		if _, ok := t.rules[r.Target]; !ok && !slices.Contains([]string{"ACCEPT", "DROP", "REJECT", "RETURN"}, r.Target) {
			return fmt.Errorf("no target %s", r.Target)
		}
		if r.MatchSet != "" && !t.setExists(r.MatchSet) {
			return fmt.Errorf("set %s doesn't exist", r.MatchSet)
		}
		if r.Extra != "" {
			return fmt.Errorf("unknown option %q", r.Extra)
		}
		t.rules[r.Chain] = append(t.rules[r.Chain], l)
	default:
		return fmt.Errorf("cannot parse %q", l)
	}
	return nil
}

// fake is the test Applier over one fakeTables per family.
type fake struct {
	tables      map[netinfo.Family]*fakeTables
	unavailable map[netinfo.Family]error
	// fail, when set, is asked before each restore (test or load); an
	// error fails it and leaves the table as it was.
	fail     func(f netinfo.Family, payload string, test bool) error
	env      Environment
	hits     map[string]uint64 // packets per rule comment, for ListRules
	restores []string          // every payload loaded (not tested), in order
	// sets models ipset: shared by both families, applied line by line
	// (ipset restore is not one transaction).
	sets    map[string][]string
	noIPSet error
}

func newFake() *fake {
	return &fake{tables: map[netinfo.Family]*fakeTables{netinfo.IPv4: newFakeTables(), netinfo.IPv6: newFakeTables()},
		unavailable: map[netinfo.Family]error{}, hits: map[string]uint64{}, env: Environment{Backend: "nf_tables"},
		sets: map[string][]string{}}
}

func (f *fake) Available(fam netinfo.Family) error { return f.unavailable[fam] }

func (f *fake) Restore(_ context.Context, fam netinfo.Family, payload []byte, test bool) error {
	next := f.tables[fam].clone()
	if err := next.apply(string(payload), func(n string) bool { _, ok := f.sets[n]; return ok }); err != nil {
		return newRestoreError(fam, test, payload, err.Error(), fmt.Errorf("fake restore failed"))
	}
	if f.fail != nil {
		if err := f.fail(fam, string(payload), test); err != nil {
			return err
		}
	}
	if test {
		return nil
	}
	f.tables[fam] = next
	f.restores = append(f.restores, string(payload))
	return nil
}

func (f *fake) Save(_ context.Context, fam netinfo.Family, table string) ([]byte, error) {
	if table != Table {
		return []byte("*" + table + "\nCOMMIT\n"), nil
	}
	return []byte(f.tables[fam].save()), nil
}

func jumpLine() string { return "-A INPUT -m comment --comment " + JumpComment + " -j " + InputChain }

func (f *fake) JumpExists(fam netinfo.Family) (bool, error) {
	return slices.Contains(f.tables[fam].rules["INPUT"], jumpLine()), nil
}

func (f *fake) InsertJump(fam netinfo.Family) error {
	t := f.tables[fam]
	if _, ok := t.rules[InputChain]; !ok {
		return fmt.Errorf("no chain %s", InputChain)
	}
	t.rules["INPUT"] = append([]string{jumpLine()}, t.rules["INPUT"]...)
	return nil
}

func (f *fake) DeleteJump(fam netinfo.Family) error {
	t := f.tables[fam]
	if i := slices.Index(t.rules["INPUT"], jumpLine()); i >= 0 {
		t.rules["INPUT"] = slices.Delete(t.rules["INPUT"], i, i+1)
	}
	return nil
}

func (f *fake) ListRules(fam netinfo.Family, chain string) ([]string, error) {
	t := f.tables[fam]
	rs, ok := t.rules[chain]
	if !ok {
		return nil, fmt.Errorf("no chain %s", chain)
	}
	out := []string{"-N " + chain}
	for _, l := range rs {
		r, _, _ := ParseRule(l)
		out = append(out, fmt.Sprintf("%s -c %d %d", l, f.hits[r.Comment], 60*f.hits[r.Comment]))
	}
	return out, nil
}

func (f *fake) SetsAvailable() error { return f.noIPSet }

func (f *fake) RestoreSets(_ context.Context, payload []byte) error {
	if f.noIPSet != nil {
		return f.noIPSet
	}
	for i, l := range strings.Split(string(payload), "\n") {
		if err := f.setLine(l); err != nil {
			return &RestoreError{Line: i + 1, Context: lineContext(payload, i+1, 1), Err: err, binary: "ipset restore"}
		}
	}
	return nil
}

func (f *fake) setLine(l string) error {
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
		f.sets[fs[1]] = append(f.sets[fs[1]], fs[2])
	case "swap":
		f.sets[fs[1]], f.sets[fs[2]] = f.sets[fs[2]], f.sets[fs[1]]
	case "destroy":
		for _, t := range f.tables {
			if strings.Contains(t.save(), "--match-set "+fs[1]+" ") {
				return fmt.Errorf("set %s is in use", fs[1])
			}
		}
		delete(f.sets, fs[1])
	default:
		return fmt.Errorf("bad ipset line %q", l)
	}
	return nil
}

func (f *fake) SaveSets(context.Context) ([]byte, error) {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(f.sets)) {
		fmt.Fprintf(&b, "create %s hash:net family inet hashsize 1024 maxelem 1048576\n", n)
		for _, m := range f.sets[n] {
			fmt.Fprintf(&b, "add %s %s\n", n, m)
		}
	}
	return []byte(b.String()), nil
}

func (f *fake) Environment(context.Context, netinfo.Family) (Environment, error) { return f.env, nil }

// snapshotAll is every family's saved table, for before/after comparisons.
func (f *fake) snapshotAll() map[netinfo.Family]string {
	m := map[netinfo.Family]string{}
	for fam, t := range f.tables {
		m[fam] = t.save()
	}
	sets, _ := f.SaveSets(context.Background())
	m[0] = string(sets)
	return m
}

func equalSnapshots(a, b map[netinfo.Family]string) bool { return maps.Equal(a, b) }
