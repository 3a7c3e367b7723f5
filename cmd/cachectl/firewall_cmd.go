package main

import "github.com/spf13/cobra"

// newFirewallCmd groups the commands that inspect or remove the rules
// 'cachectl apply' loads.
func newFirewallCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "firewall",
		Short: "Inspect or remove cachectl's firewall rules",
		Long: `cachectl owns the CACHECTL-* chains of the filter table (IPv4 and IPv6) and
one jump to them at the top of INPUT; 'cachectl apply' loads them from the
policy. These commands show their state and counters, or remove them.

` + exitCodesHelp,
		Args: unknownCommand,
		RunE: showHelp,
	}
	cmd.AddCommand(newFirewallStatusCmd(a), newFirewallRemoveCmd(a))
	return cmd
}
