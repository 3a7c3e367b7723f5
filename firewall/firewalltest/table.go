package firewalltest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cachectl/cachectl/firewall"
)

// table models one family's filter table.
type table struct {
	order []string            // chain order, builtins first
	rules map[string][]string // chain -> rule lines, as iptables-save prints them
}

var builtins = []string{"INPUT", "FORWARD", "OUTPUT"}

var targets = []string{"ACCEPT", "DROP", "REJECT", "RETURN", "CONNMARK"}

func newTable() *table {
	t := &table{rules: map[string][]string{}}
	for _, c := range builtins {
		t.order = append(t.order, c)
		t.rules[c] = nil
	}
	return t
}

func (t *table) clone() *table {
	c := &table{order: slices.Clone(t.order), rules: map[string][]string{}}
	for k, v := range t.rules {
		c.rules[k] = slices.Clone(v)
	}
	return c
}

// save prints the table as iptables-save -c does; hits gives each rule's
// packets by comment (nil: no counters at all).
func (t *table) save(hits map[string]uint64) string {
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
		for _, l := range t.rules[c] {
			if hits != nil {
				r, _, _ := firewall.ParseRule(l)
				fmt.Fprintf(&b, "[%d:%d] ", hits[r.Comment], 60*hits[r.Comment])
			}
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func (t *table) referenced(chain string) bool {
	for c, rs := range t.rules {
		for _, l := range rs {
			if r, _, err := firewall.ParseRule(l); err == nil && r.Target == chain && c != chain {
				return true
			}
		}
	}
	return false
}

var errNoCommit = errors.New("the table was never committed (no COMMIT line)")

// apply runs a payload's lines against t, failing like iptables-restore:
// "line N failed" names the first bad line. The changes count only once
// the table's COMMIT is reached.
func (t *table) apply(payload string, setExists func(string) bool) error {
	open := false
	for i, l := range strings.Split(payload, "\n") {
		l = strings.TrimSpace(l)
		var err error
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "*"):
			if l != "*"+firewall.Table {
				err = fmt.Errorf("the fake models only the filter table, got %s", l)
			}
			open = true
		case !open:
			err = fmt.Errorf("%q outside a table", l)
		case l == "COMMIT":
			open = false
		default:
			err = t.applyLine(l, setExists)
		}
		if err != nil {
			return fmt.Errorf("line %d failed: %w", i+1, err)
		}
	}
	if open {
		return errNoCommit
	}
	return nil
}

func (t *table) applyLine(l string, setExists func(string) bool) error {
	switch {
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
	case strings.HasPrefix(l, "-A "), strings.HasPrefix(l, "-I "), strings.HasPrefix(l, "-D "):
		return t.ruleLine(l, setExists)
	default:
		return fmt.Errorf("cannot parse %q", l)
	}
	return nil
}

// ruleLine appends (-A), inserts at the top (-I CHAIN [1]) or deletes the
// first equal rule (-D). Rules are stored in iptables-save's -A form.
func (t *table) ruleLine(l string, setExists func(string) bool) error {
	op := l[:2]
	rest := strings.TrimSpace(l[3:])
	if op == "-I" { // "-I CHAIN 1 ..." or "-I CHAIN ..."
		f := strings.SplitN(rest, " ", 3)
		if len(f) == 3 && f[1] == "1" {
			rest = f[0] + " " + f[2]
		}
	}
	r, _, err := firewall.ParseRule("-A " + rest)
	if err != nil {
		return err
	}
	if _, ok := t.rules[r.Chain]; !ok {
		return fmt.Errorf("no chain %s", r.Chain)
	}
	if _, ok := t.rules[r.Target]; !ok && !slices.Contains(targets, r.Target) {
		return fmt.Errorf("no target %s", r.Target)
	}
	if r.MatchSet != "" && !setExists(r.MatchSet) {
		return fmt.Errorf("set %s doesn't exist", r.MatchSet)
	}
	if r.Extra != "" {
		return fmt.Errorf("unknown option %q", r.Extra)
	}
	line := "-A " + rest
	switch op {
	case "-A":
		t.rules[r.Chain] = append(t.rules[r.Chain], line)
	case "-I":
		t.rules[r.Chain] = append([]string{line}, t.rules[r.Chain]...)
	case "-D":
		i := slices.IndexFunc(t.rules[r.Chain], func(have string) bool {
			hr, _, err := firewall.ParseRule(have)
			return err == nil && hr == r
		})
		if i < 0 {
			return fmt.Errorf("bad rule (does a matching rule exist in that chain?)")
		}
		t.rules[r.Chain] = slices.Delete(t.rules[r.Chain], i, i+1)
	}
	return nil
}
