// Package firewalltest is the iptables test double every caller's tests
// share: an in-memory firewall.Applier that models what cachectl relies on
// from iptables-restore --noflush and ipset restore, so tests assert on the
// resulting tables rather than on the calls made.
//
// Modelled: per-family filter tables with builtin and user chains; a chain
// line flushes only that chain; -A, -I, -D and -X with iptables' refusals
// (unknown chain or target, a set that does not exist, deleting a chain
// still referenced or not empty, deleting a rule that is not there); a
// table's changes take effect only at its COMMIT, and a payload with a bad
// line leaves every table as it was; iptables-save -c output with
// per-rule counters; ipset's create/flush/add/swap/destroy, line by line
// (ipset restore is not one transaction).
package firewalltest

import (
	"context"
	"fmt"
	"slices"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo"
)

// Fake is a firewall.Applier over one modelled filter table per family.
// Its exported fields are the test's knobs; the zero value is not usable,
// use New.
type Fake struct {
	tables map[netinfo.Family]*table
	sets   map[string][]string

	// Unavailable makes Available fail for a family.
	Unavailable map[netinfo.Family]error
	// Fail, when set, is asked before each restore (check or load) that
	// parsed; an error fails it and leaves the tables as they were.
	Fail func(f netinfo.Family, payload string, mode firewall.RestoreMode) error
	// Env is what Environment reports.
	Env firewall.Environment
	// Hits are packets per rule comment, shown as the rule's counters
	// (60 bytes a packet).
	Hits map[string]uint64
	// Restores lists every payload loaded (not checked), in order.
	Restores []string
	// NoIPSet makes ipset unusable.
	NoIPSet error
}

// New returns empty tables for both families, on an nf_tables host.
func New() *Fake {
	return &Fake{
		tables:      map[netinfo.Family]*table{netinfo.IPv4: newTable(), netinfo.IPv6: newTable()},
		sets:        map[string][]string{},
		Unavailable: map[netinfo.Family]error{},
		Hits:        map[string]uint64{},
		Env:         firewall.Environment{Backend: "nf_tables"},
	}
}

// JumpLine is the jump from INPUT as iptables-save prints it.
func JumpLine() string {
	return "-A INPUT -m comment --comment " + firewall.JumpComment + " -j " + firewall.InputChain
}

// Rules returns a chain's rule lines, or nil when the chain does not exist.
func (f *Fake) Rules(fam netinfo.Family, chain string) []string {
	return slices.Clone(f.tables[fam].rules[chain])
}

// HasChain reports whether the family's table has the chain.
func (f *Fake) HasChain(fam netinfo.Family, chain string) bool {
	_, ok := f.tables[fam].rules[chain]
	return ok
}

// SetRules replaces a chain's rules (creating it if needed), to give a test host rules of
// its own (or to simulate another tool editing the table).
func (f *Fake) SetRules(fam netinfo.Family, chain string, lines ...string) {
	t := f.tables[fam]
	if _, ok := t.rules[chain]; !ok {
		t.order = append(t.order, chain)
	}
	t.rules[chain] = slices.Clone(lines)
}

// Flush empties every chain of the family and deletes the user chains, as
// `iptables -F; iptables -X` (or a firewall reload) would.
func (f *Fake) Flush(fam netinfo.Family) { f.tables[fam] = newTable() }

// Sets returns the ipsets and their members.
func (f *Fake) Sets() map[string][]string {
	m := map[string][]string{}
	for k, v := range f.sets {
		m[k] = slices.Clone(v)
	}
	return m
}

// SetMembers replaces an ipset's members, as `ipset add/del` by hand would.
func (f *Fake) SetMembers(name string, members ...string) { f.sets[name] = slices.Clone(members) }

// Snapshot is every family's saved table and (under key FamilyAny) the
// ipsets, for before/after comparisons with maps.Equal.
func (f *Fake) Snapshot() map[netinfo.Family]string {
	m := map[netinfo.Family]string{}
	for fam, t := range f.tables {
		m[fam] = t.save(nil)
	}
	sets, _ := f.SaveSets(context.Background())
	m[netinfo.FamilyAny] = string(sets)
	return m
}

// Available implements firewall.Applier.
func (f *Fake) Available(fam netinfo.Family) error { return f.Unavailable[fam] }

// Restore implements firewall.Applier with iptables-restore --noflush
// semantics: the payload runs against a copy that replaces the table only
// if every line succeeded and the table was committed.
func (f *Fake) Restore(_ context.Context, fam netinfo.Family, payload []byte, mode firewall.RestoreMode) error {
	next := f.tables[fam].clone()
	if err := next.apply(string(payload), func(n string) bool { _, ok := f.sets[n]; return ok }); err != nil {
		return firewall.NewRestoreError(fam, mode, payload, err.Error(), fmt.Errorf("restore failed"))
	}
	if f.Fail != nil {
		if err := f.Fail(fam, string(payload), mode); err != nil {
			return err
		}
	}
	if mode == firewall.Check {
		return nil
	}
	f.tables[fam] = next
	f.Restores = append(f.Restores, string(payload))
	return nil
}

// Save implements firewall.Applier: iptables-save -c of the filter table,
// and an empty table for any other.
func (f *Fake) Save(_ context.Context, fam netinfo.Family, tbl string) ([]byte, error) {
	if tbl != firewall.Table {
		return []byte("*" + tbl + "\nCOMMIT\n"), nil
	}
	return []byte(f.tables[fam].save(f.Hits)), nil
}

// Environment implements firewall.Applier.
func (f *Fake) Environment(context.Context, netinfo.Family) (firewall.Environment, error) {
	return f.Env, nil
}
