package main

import (
	"github.com/spf13/cobra"
)

// newPolicyCmd groups the commands that read or create the policy file as a
// whole; allow and revoke edit its allowlist.
func newPolicyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show, check or create the policy file (who may connect)",
		Long: `The policy file says who may connect to the cache (peers), where the daemon
listens (bind: the local side, like memcached's -l/-p/-U), and whether
cachectl enforces the allowlist with its firewall rules.

Default location: /etc/cachectl/policy.yaml, or $CACHECTL_POLICY, or --policy.
Without a file, the default policy applies: loopback peers only, UDP off.

` + exitCodesHelp,
		Args: unknownCommand,
		RunE: showHelp,
	}
	cmd.AddCommand(newPolicyShowCmd(a), newPolicyCheckCmd(a), newPolicyInitCmd(a))
	return cmd
}
