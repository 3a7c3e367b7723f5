package main

import (
	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/netinfo"
)

type rulesOptions struct {
	policy string
	family string
}

func newRulesCmd(a *app) *cobra.Command {
	var o rulesOptions
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Print the firewall rules the policy renders to, exactly as apply loads them",
		Long: `Print the iptables-restore payloads (and, for allowlists of more than 64
peers, the ipset restore payloads) that 'cachectl apply' loads, family by
family. Nothing is changed and no root is needed.

Each payload starts with a comment line naming the program that loads it
("# cachectl ipv4 ruleset (iptables-restore --noflush)"); the loaders skip
comment lines, so the output is byte for byte what is loaded. One family's
payload can be fed to its loader as is:
  cachectl rules --family 4 | iptables-restore --test --noflush

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return runRules(a, o) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	cmd.Flags().StringVar(&o.family, "family", "all", "address family: 4, 6 or all (also ipv4, ipv6)")
	return cmd
}

func runRules(a *app, o rulesOptions) error {
	fams, err := parseFamilies(o.family)
	if err != nil {
		return err
	}
	p, err := loadPolicyForFirewall(a, o.policy, true)
	if err != nil {
		return err
	}
	return writePayloads(a.stdout, firewallSpec(p), fams)
}

func parseFamilies(s string) ([]netinfo.Family, error) {
	f, err := netinfo.ParseFamily(s)
	if err != nil {
		return nil, usageErrorf("--family: %w", err)
	}
	return f.Concrete(), nil
}
