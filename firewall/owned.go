package firewall

import (
	"context"
	"fmt"
	"strings"

	"github.com/cachectl/cachectl/netinfo"
)

// owned is cachectl's part of a family's filter table, as iptables-save -c
// shows it. Everything Apply, Status and Remove need to know about the
// kernel's state comes from this one read, so the Applier needs no listing
// or existence calls of its own.
type owned struct {
	chains   []string
	rules    []Rule
	counters []Counters // of rules[i]
	lines    []string   // the raw -A lines without counters, for a byte-faithful restore
	// jump: INPUT holds the jump to InputChain; jumpFirst: as its first rule
	// (rules above it see the cache port's packets first and may accept
	// what cachectl would refuse).
	jump, jumpFirst bool
}

func readOwned(ctx context.Context, a Applier, f netinfo.Family) (owned, error) {
	save, err := a.Save(ctx, f, Table)
	if err != nil {
		return owned{}, fmt.Errorf("reading back %s rules: %w", f, err)
	}
	return parseOwned(save)
}

// parseOwned keeps the CACHECTL chains and rules of an iptables-save dump,
// and where the jump to them sits in INPUT.
func parseOwned(save []byte) (owned, error) {
	var o owned
	inFilter, inputRules := false, 0
	for _, l := range strings.Split(string(save), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "*"):
			inFilter = l == "*"+Table
		case !inFilter:
		case strings.HasPrefix(l, ":"+ChainPrefix):
			o.chains = append(o.chains, strings.Fields(l[1:])[0])
		case strings.HasPrefix(l, "-A "), strings.HasPrefix(l, "["):
			r, c, err := ParseRule(l)
			if err != nil {
				return o, err
			}
			if r.Chain == "INPUT" {
				if isJump(r) {
					o.jump = true
					o.jumpFirst = o.jumpFirst || inputRules == 0
				}
				inputRules++
			}
			if strings.HasPrefix(r.Chain, ChainPrefix) {
				o.rules = append(o.rules, r)
				o.counters = append(o.counters, c)
				o.lines = append(o.lines, stripCounters(l))
			}
		}
	}
	return o, nil
}

func isJump(r Rule) bool {
	return r.Target == InputChain && r.Comment == JumpComment && r.Extra == "" && !r.Source.IsValid() && r.Proto == ""
}

// stripCounters drops iptables-save -c's "[packets:bytes] " prefix:
// a restore without --counters refuses it.
func stripCounters(l string) string {
	if strings.HasPrefix(l, "[") {
		if i := strings.IndexByte(l, ']'); i > 0 {
			return strings.TrimSpace(l[i+1:])
		}
	}
	return l
}

// jumpPayload is a --noflush restore that only edits INPUT: with no chain
// line for INPUT, iptables-restore leaves its other rules alone. The jump's
// comment is one plain word, so it needs no quoting.
func jumpPayload(op string) []byte {
	return []byte("*" + Table + "\n" + op + " INPUT " + strings.Join(jumpRule().Spec(), " ") + "\nCOMMIT\n")
}

// insertJump puts the jump at the top of INPUT.
func insertJump(ctx context.Context, a Applier, f netinfo.Family) error {
	if err := a.Restore(ctx, f, jumpPayload("-I"), Load); err != nil {
		return fmt.Errorf("inserting the INPUT jump: %w", err)
	}
	return nil
}

// deleteJump removes every copy of the jump; none at all is fine.
func deleteJump(ctx context.Context, a Applier, f netinfo.Family) error {
	for range 8 { // a hand-made duplicate or two at most; never loop forever
		cur, err := readOwned(ctx, a, f)
		if err != nil || !cur.jump {
			return err
		}
		if err := a.Restore(ctx, f, jumpPayload("-D"), Load); err != nil {
			return fmt.Errorf("deleting the INPUT jump: %w", err)
		}
	}
	return fmt.Errorf("deleting the INPUT jump: it is still there after 8 deletions")
}
