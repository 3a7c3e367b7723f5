package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/policy"
)

type statusOptions struct {
	policy  string
	netns   string
	json    bool
	noAudit bool
}

func newStatusCmd(a *app) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "One screen: the daemon, the policy, the firewall and a quick audit",
		Long: `Show, on one screen, everything an operator checks first:

  policy    the file, where the daemon listens, how many peers may connect,
            whether cachectl manages the firewall
  daemon    the daemon serving this policy (asked over its control socket):
            pid, addresses, uptime, items, memory, connections, denied peers
  firewall  per family: installed, in sync with the policy, packets refused;
            and the daemon's keeper (rules in place, re-applies)
  audit     a quick conntrack audit: peers connected, permitted, violations
            (--no-audit skips it; 'cachectl audit' gives the full report)

Exit code 3 when the policy manages the firewall and it is not installed or
has drifted, or when the audit finds a peer the policy does not permit. A
stopped daemon is reported, not a failure.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStatus(cmd.Context(), a, o) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	addNetnsFlag(a, cmd, &o.netns)
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.Flags().BoolVar(&o.noAudit, "no-audit", false, "skip the quick conntrack audit")
	return cmd
}

// overview is `cachectl status`: four sections, each saying what it found
// or why it could not look.
type overview struct {
	Policy   policyOverview   `json:"policy"`
	Daemon   daemonOverview   `json:"daemon"`
	Firewall firewallOverview `json:"firewall"`
	Audit    auditOverview    `json:"audit"`
	OK       bool             `json:"ok"` // nothing drifted, no violation
}

type policyOverview struct {
	File       string         `json:"file"`
	Exists     bool           `json:"exists"`
	Interfaces []string       `json:"interfaces"`
	Addresses  []netip.Addr   `json:"addresses"`
	Port       uint16         `json:"port"`
	UDPPort    uint16         `json:"udp_port"`
	Peers      int            `json:"peers"`
	Loopback   bool           `json:"allow_loopback"`
	Managed    bool           `json:"firewall_managed"`
	Verdict    policy.Verdict `json:"verdict"`
}

type daemonOverview struct {
	Running bool                 `json:"running"`
	Note    string               `json:"note,omitempty"`
	Info    *daemon.DaemonInfo   `json:"info,omitempty"`
	Status  *daemon.StatusReport `json:"status,omitempty"`
}

type firewallOverview struct {
	Checked  bool                  `json:"checked"`
	Error    string                `json:"error,omitempty"`
	InSync   bool                  `json:"in_sync"` // installed and in sync in every available family
	Families []familyOverview      `json:"families"`
	Keeper   *firewall.KeeperState `json:"keeper,omitempty"`
	Warnings []string              `json:"warnings"`
}

type familyOverview struct {
	Family    string `json:"family"`
	Available bool   `json:"available"`
	Installed bool   `json:"installed"`
	InSync    bool   `json:"in_sync"`
	Drift     string `json:"drift,omitempty"`
	Refused   uint64 `json:"refused_packets"`
}

type auditOverview struct {
	Ran     bool          `json:"ran"`
	Note    string        `json:"note,omitempty"`
	Summary audit.Summary `json:"summary"`
	// Source says where the flows came from, as in `cachectl audit`.
	Source *audit.FlowSource `json:"source,omitempty"`
	// Violating lists the connected peers the policy does not permit.
	Violating []netip.Addr `json:"violating"`
	Findings  []string     `json:"findings"`
}

func runStatus(ctx context.Context, a *app, o statusOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	p, exists, err := policy.LoadOrDefault(o.policy)
	if err != nil {
		return policyFileError(err)
	}
	ov := overview{Policy: describePolicy(o.policy, p, exists)}
	ov.Daemon = daemonOverviewOf(o.policy)
	ov.Firewall = a.firewallOverview(ctx, p, o.netns)
	if ov.Daemon.Status != nil {
		ov.Firewall.Keeper = ov.Daemon.Status.Firewall
	}
	switch {
	case o.noAudit:
		ov.Audit.Note = "skipped (--no-audit); run 'cachectl audit' for the full report"
	case !exists:
		ov.Audit.Note = "no policy file, nothing to audit against"
	default:
		ov.Audit = a.quickAudit(ctx, o)
	}
	drifted := p.Firewall.Managed && !ov.Firewall.InSync
	ov.OK = !drifted && ov.Audit.Summary.Violations == 0
	if err := (printer{w: a.stdout, json: o.json}).print(ov, ov.writeText); err != nil {
		return err
	}
	if !ov.OK {
		return &exitError{code: exitViolation, err: errSilent}
	}
	return nil
}

func describePolicy(path string, p *policy.Policy, exists bool) policyOverview {
	return policyOverview{
		File: path, Exists: exists,
		Interfaces: nonNil(p.Bind.Interfaces), Addresses: nonNil(p.Bind.Addresses),
		Port: p.Bind.Port, UDPPort: p.Bind.UDPPort, Peers: len(p.Peers.Allowed),
		Loopback: p.LoopbackAllowed(), Managed: p.Firewall.Managed, Verdict: p.Firewall.Verdict,
	}
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// daemonOverviewOf reads the daemon's state over its control socket.
func daemonOverviewOf(path string) daemonOverview {
	rep, err := daemon.Ask(path, daemon.ControlRequest{Op: daemon.OpStatus}, confirmTimeout)
	switch {
	case errors.Is(err, daemon.ErrNoDaemon):
		return daemonOverview{Note: "not running: " + err.Error()}
	case err != nil:
		return daemonOverview{Note: err.Error()}
	}
	return daemonOverview{Running: true, Info: &rep.Daemon, Status: rep.Status}
}

// firewallOverview reads the firewall like 'firewall status' does.
func (a *app) firewallOverview(ctx context.Context, p *policy.Policy, netns string) firewallOverview {
	fo := firewallOverview{Families: []familyOverview{}, Warnings: []string{}}
	var st firewall.Status
	err := a.withApplier(netns, func(ap firewall.Applier) error {
		var err error
		st, err = firewall.ReadStatus(ctx, ap, firewallSpec(p))
		return err
	})
	if err != nil {
		fo.Error = err.Error()
		return fo
	}
	fo.Checked, fo.InSync = true, st.OK()
	fo.Warnings = append(fo.Warnings, st.Warnings()...)
	for _, fs := range st.Families {
		fam := familyOverview{Family: fs.Family.String(), Available: fs.Available, Installed: fs.Installed, InSync: fs.InSync}
		if fs.Available && !fs.InSync {
			fam.Drift = fs.Diff.String()
		}
		fam.Refused = fs.Refused().Packets
		fo.Families = append(fo.Families, fam)
	}
	return fo
}

// quickAudit judges the cache's flows against the policy, read as
// `cachectl audit` reads them (the daemon's table when it is in sync, else
// a filtered dump), without the daemon cross-check and the firewall
// counters of the full audit.
func (a *app) quickAudit(ctx context.Context, o statusOptions) auditOverview {
	ar, err := loadAuditRules(auditOptions{policy: o.policy, netns: o.netns, daemon: ""})
	if err != nil {
		return auditOverview{Note: err.Error()}
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	q := ar.rules.Query(audit.FilterAuto, audit.Mark{}, "status does not read the firewall's mark")
	rep, err := a.auditFrom(tctx, o.netns, ar.rules, q, daemonTable(o.policy, confirmTimeout))
	if err != nil {
		return auditOverview{Note: fmt.Sprintf("conntrack unreadable: %v", err)}
	}
	ov := auditOverview{Ran: true, Summary: rep.Summary, Source: &rep.Source, Violating: []netip.Addr{}, Findings: []string{}}
	for _, p := range rep.Peers {
		if p.Verdict == audit.Violation {
			ov.Violating = append(ov.Violating, p.Addr)
		}
	}
	for _, f := range rep.Findings {
		ov.Findings = append(ov.Findings, f.Message)
	}
	return ov
}
