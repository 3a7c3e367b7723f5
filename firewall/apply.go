package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"

	"github.com/cachectl/cachectl/netinfo"
)

// FamilyResult is what Apply did for one family.
type FamilyResult struct {
	Family       netinfo.Family `json:"family"`
	Applied      bool           `json:"applied"`
	Skipped      string         `json:"skipped,omitempty"` // why the family was not managed
	Rules        int            `json:"rules"`
	JumpInserted bool           `json:"jump_inserted"`
	Pruned       []string       `json:"pruned_chains,omitempty"` // stale owned chains deleted
}

// Result is what Apply did.
type Result struct {
	Families []FamilyResult `json:"families"`
	Warnings []string       `json:"warnings,omitempty"`
}

// Apply makes cachectl's chains match s in every available family,
// atomically per family and all-or-nothing across families: both payloads
// are checked (--test) before anything changes, and if a later family (or
// a jump, or the read-back) fails, the families already changed are put
// back exactly as they were, including "not installed".
func Apply(ctx context.Context, a Applier, s Spec, log *slog.Logger) (Result, error) {
	var res Result
	if err := s.Validate(); err != nil {
		return res, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var fams []netinfo.Family
	for _, f := range netinfo.Families {
		if err := a.Available(f); err != nil {
			if f == netinfo.IPv4 {
				return res, fmt.Errorf("ipv4 firewall unavailable: %w", err)
			}
			msg := fmt.Sprintf("ipv6 skipped: %v; netinfo.IPv6 peers are not filtered by cachectl", err)
			res.Warnings = append(res.Warnings, msg)
			res.Families = append(res.Families, FamilyResult{Family: f, Skipped: err.Error()})
			log.Warn("ipv6 firewall skipped", "reason", err)
			continue
		}
		fams = append(fams, f)
	}
	sets := map[netinfo.Family]Ruleset{}
	needSets := false
	for _, f := range fams {
		sets[f] = NewRuleset(s, f)
		needSets = needSets || len(sets[f].Sets) > 0
	}
	if needSets {
		if err := a.SetsAvailable(); err != nil {
			return res, fmt.Errorf("an allowlist of more than %d peers is matched with an ipset, and ipset is unusable (nothing was changed): %w", SetThreshold, err)
		}
	}
	snaps := map[netinfo.Family]snapshot{}
	for _, f := range fams {
		sn, err := takeSnapshot(ctx, a, f)
		if err != nil {
			return res, fmt.Errorf("saving current %s rules (nothing was changed): %w", f, err)
		}
		snaps[f] = sn
	}
	if err := check(ctx, a, fams, sets); err != nil {
		if rerr := dropNewSets(ctx, a, fams, snaps); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return res, err
	}
	var done []netinfo.Family
	for _, f := range fams {
		done = append(done, f)
		fr, err := applyFamily(ctx, a, sets[f])
		if err != nil {
			if rerr := rollback(ctx, a, done, snaps); rerr != nil {
				return res, errors.Join(fmt.Errorf("applying %s allowlist: %w", f, err),
					fmt.Errorf("rolling back (the firewall may be in between): %w", rerr))
			}
			log.Warn("apply failed, previous rules restored", "family", f, "err", err)
			return res, fmt.Errorf("applying %s allowlist (the previous rules of every family were restored): %w", f, err)
		}
		log.Info("firewall applied", "family", f, "rules", fr.Rules, "jump_inserted", fr.JumpInserted)
		res.Families = append(res.Families, fr)
	}
	slices.SortFunc(res.Families, func(x, y FamilyResult) int { return int(x.Family) - int(y.Family) })
	return res, nil
}

// check makes sure the sets the rules name exist (empty if new: nothing
// in force changes) and runs iptables-restore --test on every payload.
func check(ctx context.Context, a Applier, fams []netinfo.Family, sets map[netinfo.Family]Ruleset) error {
	for _, f := range fams {
		if len(sets[f].Sets) == 0 {
			continue
		}
		if err := a.RestoreSets(ctx, sets[f].ensureSetsPayload()); err != nil {
			return fmt.Errorf("creating %s allowlist set (nothing in force was changed): %w", f, err)
		}
	}
	for _, f := range fams {
		if err := a.Restore(ctx, f, sets[f].Render(), Check); err != nil {
			return fmt.Errorf("checking %s allowlist (nothing was changed): %w", f, err)
		}
	}
	return nil
}

// dropNewSets destroys the sets check created that did not exist before.
func dropNewSets(ctx context.Context, a Applier, fams []netinfo.Family, snaps map[netinfo.Family]snapshot) error {
	var errs []error
	for _, f := range fams {
		cur, err := readSets(ctx, a, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var added []string
		for n := range cur {
			if _, ok := snaps[f].sets[n]; !ok {
				added = append(added, n)
			}
		}
		if len(added) > 0 {
			if err := a.RestoreSets(ctx, destroySetsPayload(added)); err != nil {
				errs = append(errs, fmt.Errorf("destroying new %s sets %v: %w", f, added, err))
			}
		}
	}
	return errors.Join(errs...)
}

func applyFamily(ctx context.Context, a Applier, rs Ruleset) (FamilyResult, error) {
	fr := FamilyResult{Family: rs.Family, Rules: len(rs.Rules)}
	if p := rs.RenderSets(); p != nil {
		if err := a.RestoreSets(ctx, p); err != nil {
			return fr, fmt.Errorf("loading the allowlist set: %w", err)
		}
	}
	if err := a.Restore(ctx, rs.Family, rs.Render(), Load); err != nil {
		return fr, err
	}
	cur, err := readOwned(ctx, a, rs.Family)
	if err != nil {
		return fr, err
	}
	// Chains of a previous port are unreferenced now that CACHECTL-INPUT
	// was replaced; delete them so the tables hold only the current render.
	for _, c := range cur.chains {
		if !slices.Contains(rs.Chains, c) {
			fr.Pruned = append(fr.Pruned, c)
		}
	}
	if len(fr.Pruned) > 0 {
		if err := a.Restore(ctx, rs.Family, deletePayload(fr.Pruned), Load); err != nil {
			return fr, fmt.Errorf("deleting stale chains %v: %w", fr.Pruned, err)
		}
	}
	curSets, err := readSets(ctx, a, rs.Family)
	if err != nil {
		return fr, err
	}
	var staleSets []string
	for _, n := range slices.Sorted(maps.Keys(curSets)) {
		if !slices.ContainsFunc(rs.Sets, func(s Set) bool { return s.Name == n }) {
			staleSets = append(staleSets, n)
		}
	}
	if len(staleSets) > 0 {
		if err := a.RestoreSets(ctx, destroySetsPayload(staleSets)); err != nil {
			return fr, fmt.Errorf("destroying unused sets %v: %w", staleSets, err)
		}
		fr.Pruned = append(fr.Pruned, staleSets...)
	}
	if !cur.jump {
		if err := insertJump(ctx, a, rs.Family); err != nil {
			return fr, err
		}
		fr.JumpInserted = true
	}
	cur, err = readOwned(ctx, a, rs.Family)
	if err != nil {
		return fr, err
	}
	d := Compare(rs, cur.rules, cur.chains)
	if curSets, err = readSets(ctx, a, rs.Family); err != nil {
		return fr, err
	}
	if d.Sets = compareSets(rs.Sets, curSets); !d.InSync() {
		return fr, fmt.Errorf("read-back does not match what was loaded: %s", d)
	}
	fr.Applied = true
	return fr, nil
}

// snapshot is a family's cachectl state before Apply touched it.
type snapshot struct {
	owned
	sets map[string][]netip.Prefix
}

func takeSnapshot(ctx context.Context, a Applier, f netinfo.Family) (snapshot, error) {
	o, err := readOwned(ctx, a, f)
	if err != nil {
		return snapshot{}, err
	}
	sets, err := readSets(ctx, a, f)
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{owned: o, sets: sets}, nil
}

// rollback puts each family back as its snapshot found it, newest first.
func rollback(ctx context.Context, a Applier, fams []netinfo.Family, snaps map[netinfo.Family]snapshot) error {
	var errs []error
	for i := len(fams) - 1; i >= 0; i-- {
		if err := restoreSnapshot(ctx, a, fams[i], snaps[fams[i]]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fams[i], err))
		}
	}
	return errors.Join(errs...)
}

func restoreSnapshot(ctx context.Context, a Applier, f netinfo.Family, sn snapshot) error {
	if !sn.jump {
		if err := deleteJump(ctx, a, f); err != nil {
			return err
		}
	}
	// The snapshot's rules may name sets the failed apply destroyed: refill
	// them before the rules come back, and drop newer sets only after.
	if err := refillSets(ctx, a, f, sn.sets); err != nil {
		return err
	}
	cur, err := readOwned(ctx, a, f)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString("*" + Table + "\n")
	for _, c := range union(sn.chains, cur.chains) {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	for _, l := range sn.lines {
		b.WriteString(l + "\n")
	}
	for _, c := range cur.chains {
		if !slices.Contains(sn.chains, c) {
			b.WriteString("-X " + c + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	if err := a.Restore(ctx, f, b.Bytes(), Load); err != nil {
		return err
	}
	if err := dropSetsExcept(ctx, a, f, sn.sets); err != nil {
		return err
	}
	if sn.jump {
		now, err := readOwned(ctx, a, f)
		if err == nil && !now.jump {
			err = insertJump(ctx, a, f)
		}
		if err != nil {
			return fmt.Errorf("restoring the INPUT jump: %w", err)
		}
	}
	return nil
}

// refillSets gives the family's sets in want exactly those members.
func refillSets(ctx context.Context, a Applier, f netinfo.Family, want map[string][]netip.Prefix) error {
	if len(want) == 0 {
		return nil
	}
	var b bytes.Buffer
	for _, n := range slices.Sorted(maps.Keys(want)) {
		writeSetSwap(&b, Set{Name: n, Family: f, Members: want[n]})
	}
	if err := a.RestoreSets(ctx, b.Bytes()); err != nil {
		return fmt.Errorf("restoring %s sets: %w", f, err)
	}
	return nil
}

// dropSetsExcept destroys the family's owned sets not in keep; the rules
// must no longer reference them.
func dropSetsExcept(ctx context.Context, a Applier, f netinfo.Family, keep map[string][]netip.Prefix) error {
	cur, err := readSets(ctx, a, f)
	if err != nil {
		return err
	}
	var gone []string
	for _, n := range slices.Sorted(maps.Keys(cur)) {
		if _, ok := keep[n]; !ok {
			gone = append(gone, n)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := a.RestoreSets(ctx, destroySetsPayload(gone)); err != nil {
		return fmt.Errorf("destroying %s sets %v: %w", f, gone, err)
	}
	return nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Remove deletes the INPUT jumps, then every owned chain, in every
// available family: the tables end as they were before the first Apply.
func Remove(ctx context.Context, a Applier) ([]netinfo.Family, error) {
	var removed []netinfo.Family
	var fams []netinfo.Family
	for _, f := range netinfo.Families {
		if a.Available(f) == nil {
			fams = append(fams, f)
		}
	}
	// Jumps first: a chain still referenced cannot be deleted (EBUSY).
	for _, f := range fams {
		if err := deleteJump(ctx, a, f); err != nil {
			return removed, fmt.Errorf("removing %s INPUT jump: %w", f, err)
		}
	}
	for _, f := range fams {
		cur, err := readOwned(ctx, a, f)
		if err != nil {
			return removed, err
		}
		sets, err := readSets(ctx, a, f)
		if err != nil {
			return removed, err
		}
		if len(cur.chains) == 0 && len(sets) == 0 {
			continue
		}
		if len(cur.chains) > 0 {
			if err := a.Restore(ctx, f, deletePayload(cur.chains), Load); err != nil {
				return removed, fmt.Errorf("removing %s chains: %w", f, err)
			}
		}
		if len(sets) > 0 { // unreferenced now that the chains are gone
			if err := a.RestoreSets(ctx, destroySetsPayload(slices.Sorted(maps.Keys(sets)))); err != nil {
				return removed, fmt.Errorf("removing %s sets: %w", f, err)
			}
		}
		removed = append(removed, f)
	}
	return removed, nil
}
