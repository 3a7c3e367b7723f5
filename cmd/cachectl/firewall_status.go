package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/firewall"
)

type firewallStatusOptions struct {
	policy string
	netns  string
	json   bool
}

func newFirewallStatusCmd(a *app) *cobra.Command {
	var o firewallStatusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the firewall matches the policy, with each rule's counters",
		Long: `For IPv4 and IPv6: whether cachectl's rules are installed, whether they match
the policy (drift: edited, flushed by another tool, or an older policy),
and the packet/byte counters of every rule. The default-deny counters count
blocked connection attempts (a refused attempt leaves no conntrack entry,
so these counters are where blocked peers show). Counters restart at each
apply.

Warnings: no ip6tables (IPv6 unfiltered), rules in the other iptables
backend (legacy vs nft), ufw or firewalld (their reload can drop cachectl's
chains), the jump not being rule #1 of INPUT, nat rules redirecting the
cache port (that traffic takes FORWARD, not INPUT).

Exit code 3 when the policy says firewall.managed: true and a family is not
installed or has drifted; run 'cachectl apply' to fix it. When the policy
does not manage the firewall, status only reports (exit 0).

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return runFirewallStatus(a, o) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	addNetnsFlag(a, cmd, &o.netns)
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

type statusReport struct {
	Policy   string                  `json:"policy"`
	Managed  bool                    `json:"managed"`
	OK       bool                    `json:"ok"` // installed and in sync everywhere
	Families []firewall.FamilyStatus `json:"families"`
	Warnings []string                `json:"warnings"`
}

func runFirewallStatus(a *app, o firewallStatusOptions) error {
	p, err := loadPolicyForFirewall(a, o.policy, true)
	if err != nil {
		return err
	}
	var st firewall.Status
	err = a.withApplier(o.netns, func(ap firewall.Applier) error {
		st, err = firewall.ReadStatus(context.Background(), ap, firewallSpec(p))
		return err
	})
	if err != nil {
		return err
	}
	rep := statusReport{Policy: o.policy, Managed: p.Firewall.Managed, OK: st.OK(), Families: st.Families, Warnings: st.Warnings()}
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	if err := (printer{w: a.stdout, json: o.json}).print(rep, func(w io.Writer) error { return writeStatus(w, rep) }); err != nil {
		return err
	}
	if rep.Managed && !rep.OK {
		return &exitError{code: exitViolation, err: errSilent}
	}
	return nil
}

func writeStatus(w io.Writer, rep statusReport) error {
	managed := "managed by cachectl"
	if !rep.Managed {
		managed = "NOT managed (firewall.managed: false): report only"
	}
	fmt.Fprintf(w, "policy %s: firewall %s\n", rep.Policy, managed)
	for _, fs := range rep.Families {
		fmt.Fprintf(w, "\n%s: %s\n", fs.Family, familyState(fs))
		if !fs.InSync && fs.Available {
			fmt.Fprintf(w, "  drift: %s\n", fs.Diff)
		}
		if len(fs.Rules) == 0 {
			continue
		}
		fmt.Fprintf(w, "  %12s %14s  %-15s %s\n", "PACKETS", "BYTES", "VERDICT", "RULE")
		for _, r := range fs.Rules {
			fmt.Fprintf(w, "  %12d %14d  %-15s %s\n", r.Packets, r.Bytes, r.Verdict, r.Comment)
		}
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintln(w, "\nwarnings:")
		for _, wn := range rep.Warnings {
			fmt.Fprintf(w, "  %s\n", wn)
		}
	}
	return nil
}

func familyState(fs firewall.FamilyStatus) string {
	switch {
	case !fs.Available:
		return "not managed here (tools missing; see warnings)"
	case !fs.Installed:
		return "NOT installed"
	case !fs.InSync:
		return "installed, DRIFTED from the policy"
	case !fs.JumpFirst:
		return "installed, in sync (but the jump is not rule #1 of INPUT)"
	}
	return "installed, in sync"
}
