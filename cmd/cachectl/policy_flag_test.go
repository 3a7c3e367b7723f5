package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// policyFree are the commands that neither read the policy nor touch
// cachectl's firewall. Every other command, including one added later,
// must take --policy with $CACHECTL_POLICY as its default.
var policyFree = map[string]bool{
	"cachectl version":    true,
	"cachectl interfaces": true,
	"cachectl serve":      true, // memcached's flags only; bind is the policy-driven daemon
	"cachectl completion": true,
	"cachectl man":        true,
}

func TestEveryPolicyCommandTakesPolicy(t *testing.T) {
	a := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	a.getenv = func(k string) string {
		if k == "CACHECTL_POLICY" {
			return "/from/env.yaml"
		}
		return ""
	}
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.HasSubCommands() || policyFree[c.CommandPath()] {
			return
		}
		checked++
		f := c.Flags().Lookup("policy")
		if f == nil {
			t.Errorf("%s has no --policy flag", c.CommandPath())
			return
		}
		if f.DefValue != "/from/env.yaml" {
			t.Errorf("%s --policy defaults to %q, not $CACHECTL_POLICY", c.CommandPath(), f.DefValue)
		}
	}
	walk(newRootCmd(a))
	if checked < 8 {
		t.Errorf("only %d commands checked; the walk missed the tree", checked)
	}
}
