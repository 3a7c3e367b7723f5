package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo"
)

type firewallRemoveOptions struct {
	policy string // accepted like every firewall command's; removal needs nothing from it
	netns  string
	json   bool
}

func newFirewallRemoveCmd(a *app) *cobra.Command {
	var o firewallRemoveOptions
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Delete cachectl's chains, sets and INPUT jumps; leave every other rule",
		Long: `Delete the INPUT jumps (IPv4 and IPv6), then cachectl's CACHECTL-* chains and
cachectl-* ipsets. The tables end exactly as they were before the first
'cachectl apply'. Removing when nothing is installed does nothing.

If the policy says firewall.managed: true, the next allow/revoke loads the
rules again; set it to false to stop that.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return runFirewallRemove(a, o) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	addNetnsFlag(a, cmd, &o.netns)
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

type removeReport struct {
	Removed []netinfo.Family `json:"removed"`
}

func runFirewallRemove(a *app, o firewallRemoveOptions) error {
	var rep removeReport
	err := a.withApplier(o.netns, func(ap firewall.Applier) error {
		var err error
		rep.Removed, err = firewall.Remove(context.Background(), ap)
		return err
	})
	if err != nil {
		return fmt.Errorf("removing cachectl's firewall rules: %w", err)
	}
	if rep.Removed == nil {
		rep.Removed = []netinfo.Family{}
	}
	return printer{w: a.stdout, json: o.json}.print(rep, func(w io.Writer) error {
		if len(rep.Removed) == 0 {
			_, err := fmt.Fprintln(w, "nothing to remove: cachectl's rules are not installed")
			return err
		}
		for _, f := range rep.Removed {
			fmt.Fprintf(w, "%s: cachectl's chains and jump removed\n", f)
		}
		return nil
	})
}
