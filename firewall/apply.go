package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// FamilyResult is what Apply did for one family.
type FamilyResult struct {
	Family       Family   `json:"family"`
	Applied      bool     `json:"applied"`
	Skipped      string   `json:"skipped,omitempty"` // why the family was not managed
	Rules        int      `json:"rules"`
	JumpInserted bool     `json:"jump_inserted"`
	Pruned       []string `json:"pruned_chains,omitempty"` // stale owned chains deleted
}

// Result is what Apply did.
type Result struct {
	Families []FamilyResult `json:"families"`
	Warnings []string       `json:"warnings,omitempty"`
}

// Payloads renders the exact bytes Apply loads, per family, in load order.
// Apply loads exactly these, so a dry-run printing them is truthful.
func Payloads(s Spec) map[Family][]byte {
	m := map[Family][]byte{}
	for _, f := range Families {
		m[f] = NewRuleset(s, f).Render()
	}
	return m
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
	var fams []Family
	for _, f := range Families {
		if err := a.Available(f); err != nil {
			if f == IPv4 {
				return res, fmt.Errorf("ipv4 firewall unavailable: %w", err)
			}
			msg := fmt.Sprintf("ipv6 skipped: %v; IPv6 peers are not filtered by cachectl", err)
			res.Warnings = append(res.Warnings, msg)
			res.Families = append(res.Families, FamilyResult{Family: f, Skipped: err.Error()})
			log.Warn("ipv6 firewall skipped", "reason", err)
			continue
		}
		fams = append(fams, f)
	}
	sets := map[Family]Ruleset{}
	for _, f := range fams {
		sets[f] = NewRuleset(s, f)
		if err := a.Restore(ctx, f, sets[f].Render(), true); err != nil {
			return res, fmt.Errorf("checking %s allowlist (nothing was changed): %w", f, err)
		}
	}
	snaps := map[Family]snapshot{}
	for _, f := range fams {
		sn, err := takeSnapshot(ctx, a, f)
		if err != nil {
			return res, fmt.Errorf("saving current %s rules (nothing was changed): %w", f, err)
		}
		snaps[f] = sn
	}
	var done []Family
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

func applyFamily(ctx context.Context, a Applier, rs Ruleset) (FamilyResult, error) {
	fr := FamilyResult{Family: rs.Family, Rules: len(rs.Rules)}
	if err := a.Restore(ctx, rs.Family, rs.Render(), false); err != nil {
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
		if err := a.Restore(ctx, rs.Family, deletePayload(fr.Pruned), false); err != nil {
			return fr, fmt.Errorf("deleting stale chains %v: %w", fr.Pruned, err)
		}
	}
	ok, err := a.JumpExists(rs.Family)
	if err != nil {
		return fr, fmt.Errorf("checking the INPUT jump: %w", err)
	}
	if !ok {
		if err := a.InsertJump(rs.Family); err != nil {
			return fr, fmt.Errorf("inserting the INPUT jump: %w", err)
		}
		fr.JumpInserted = true
	}
	cur, err = readOwned(ctx, a, rs.Family)
	if err != nil {
		return fr, err
	}
	if d := Compare(rs, cur.rules, cur.chains); !d.InSync() {
		return fr, fmt.Errorf("read-back does not match what was loaded: %s", d)
	}
	fr.Applied = true
	return fr, nil
}

// owned is cachectl's part of a family's filter table, as iptables-save
// shows it.
type owned struct {
	chains []string
	rules  []Rule
	lines  []string // the raw -A lines, for a byte-faithful restore
}

func readOwned(ctx context.Context, a Applier, f Family) (owned, error) {
	save, err := a.Save(ctx, f, Table)
	if err != nil {
		return owned{}, fmt.Errorf("reading back %s rules: %w", f, err)
	}
	return parseOwned(save)
}

// parseOwned keeps the CACHECTL chains and rules of an iptables-save dump.
func parseOwned(save []byte) (owned, error) {
	var o owned
	inFilter := false
	for _, l := range strings.Split(string(save), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "*"):
			inFilter = l == "*"+Table
		case !inFilter:
		case strings.HasPrefix(l, ":"+ChainPrefix):
			o.chains = append(o.chains, strings.Fields(l[1:])[0])
		case strings.HasPrefix(l, "-A "+ChainPrefix), strings.HasPrefix(l, "["):
			r, _, err := ParseRule(l)
			if err != nil {
				return o, err
			}
			if strings.HasPrefix(r.Chain, ChainPrefix) {
				o.rules = append(o.rules, r)
				o.lines = append(o.lines, l)
			}
		}
	}
	return o, nil
}

// snapshot is a family's cachectl state before Apply touched it.
type snapshot struct {
	owned
	jump bool
}

func takeSnapshot(ctx context.Context, a Applier, f Family) (snapshot, error) {
	o, err := readOwned(ctx, a, f)
	if err != nil {
		return snapshot{}, err
	}
	jump, err := a.JumpExists(f)
	if err != nil {
		return snapshot{}, fmt.Errorf("checking the INPUT jump: %w", err)
	}
	return snapshot{owned: o, jump: jump}, nil
}

// rollback puts each family back as its snapshot found it, newest first.
func rollback(ctx context.Context, a Applier, fams []Family, snaps map[Family]snapshot) error {
	var errs []error
	for i := len(fams) - 1; i >= 0; i-- {
		if err := restoreSnapshot(ctx, a, fams[i], snaps[fams[i]]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fams[i], err))
		}
	}
	return errors.Join(errs...)
}

func restoreSnapshot(ctx context.Context, a Applier, f Family, sn snapshot) error {
	if !sn.jump {
		if err := a.DeleteJump(f); err != nil {
			return fmt.Errorf("deleting the INPUT jump: %w", err)
		}
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
	if err := a.Restore(ctx, f, b.Bytes(), false); err != nil {
		return err
	}
	if sn.jump {
		ok, err := a.JumpExists(f)
		if err == nil && !ok {
			err = a.InsertJump(f)
		}
		if err != nil {
			return fmt.Errorf("restoring the INPUT jump: %w", err)
		}
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
func Remove(ctx context.Context, a Applier) ([]Family, error) {
	var removed []Family
	var fams []Family
	for _, f := range Families {
		if a.Available(f) == nil {
			fams = append(fams, f)
		}
	}
	// Jumps first: a chain still referenced cannot be deleted (EBUSY).
	for _, f := range fams {
		if err := a.DeleteJump(f); err != nil {
			return removed, fmt.Errorf("removing %s INPUT jump: %w", f, err)
		}
	}
	for _, f := range fams {
		cur, err := readOwned(ctx, a, f)
		if err != nil {
			return removed, err
		}
		if len(cur.chains) == 0 {
			continue
		}
		if err := a.Restore(ctx, f, deletePayload(cur.chains), false); err != nil {
			return removed, fmt.Errorf("removing %s chains: %w", f, err)
		}
		removed = append(removed, f)
	}
	return removed, nil
}
