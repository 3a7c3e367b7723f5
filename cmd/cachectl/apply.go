package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo"
)

type applyOptions struct {
	policy string
	netns  string
	dryRun bool
	json   bool
}

func newApplyCmd(a *app) *cobra.Command {
	var o applyOptions
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Load the policy's allowlist into the firewall (cachectl's own chains only)",
		Long: `Render the policy's allowlist as iptables rules and load them, for IPv4 and
IPv6, into cachectl's own chains (CACHECTL-*), jumped to from the top of
INPUT. Rules the host already has are never touched: every load is an
iptables-restore --noflush that replaces only cachectl's chains.

Both families are checked before anything changes; if one fails to load,
the other is put back as it was. Applying again with the same policy
changes nothing. Without ip6tables, IPv6 is skipped with a warning.

--dry-run prints exactly the bytes that would be loaded (see 'cachectl
rules') and changes nothing.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return runApply(a, o) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	addNetnsFlag(a, cmd, &o.netns)
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print what would be loaded, change nothing")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

type applyReport struct {
	Policy   string                  `json:"policy"`
	DryRun   bool                    `json:"dry_run"`
	Managed  bool                    `json:"managed"`
	Payloads []dryRunPayload         `json:"payloads,omitempty"`
	Families []firewall.FamilyResult `json:"families,omitempty"`
	Warnings []string                `json:"warnings,omitempty"`
}

type dryRunPayload struct {
	Family  netinfo.Family `json:"family"`
	Command string         `json:"command"`
	Payload string         `json:"payload"`
}

func runApply(a *app, o applyOptions) error {
	p, err := loadPolicyForFirewall(a, o.policy, o.dryRun)
	if err != nil {
		return err
	}
	spec := firewallSpec(p)
	if err := spec.Validate(); err != nil {
		return usageError(err)
	}
	pr := printer{w: a.stdout, json: o.json}
	rep := applyReport{Policy: o.policy, DryRun: o.dryRun, Managed: p.Firewall.Managed}
	if o.dryRun {
		for _, f := range netinfo.Families {
			for _, pl := range firewall.NewRuleset(spec, f).Payloads() {
				rep.Payloads = append(rep.Payloads, dryRunPayload{Family: f, Command: pl.Command, Payload: string(pl.Bytes)})
			}
		}
		return pr.print(rep, func(w io.Writer) error { return writePayloads(w, spec, netinfo.Families) })
	}
	if !p.Firewall.Managed {
		fmt.Fprintln(a.stderr, "note: firewall.managed is false in the policy: allow/revoke will not re-apply, and status will not report drift as a violation")
	}
	err = a.withApplier(o.netns, func(ap firewall.Applier) error {
		res, err := firewall.Apply(context.Background(), ap, spec, firewallLogger(a))
		rep.Families, rep.Warnings = res.Families, res.Warnings
		return err
	})
	for _, w := range rep.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	return pr.print(rep, func(w io.Writer) error {
		for _, fr := range rep.Families {
			if !fr.Applied {
				fmt.Fprintf(w, "%s: skipped (%s)\n", fr.Family, fr.Skipped)
				continue
			}
			jump := "jump from INPUT already in place"
			if fr.JumpInserted {
				jump = "jump from INPUT inserted"
			}
			fmt.Fprintf(w, "%s: %d rules loaded, %s\n", fr.Family, fr.Rules, jump)
		}
		return nil
	})
}
