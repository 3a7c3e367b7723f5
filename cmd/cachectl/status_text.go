package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cachectl/cachectl/firewall"
)

// writeText prints the overview for people: one block per section, the
// section name in the left column.
func (ov overview) writeText(w io.Writer) error {
	sec := func(name string, lines []string) {
		for i, l := range lines {
			if i == 0 {
				fmt.Fprintf(w, "%-9s %s\n", name, l)
			} else {
				fmt.Fprintf(w, "%-9s %s\n", "", l)
			}
		}
	}
	sec("policy", ov.Policy.lines())
	sec("daemon", ov.Daemon.lines())
	sec("firewall", ov.Firewall.lines(ov.Policy.Managed))
	sec("audit", ov.Audit.lines())
	return nil
}

func (p policyOverview) lines() []string {
	if !p.Exists {
		return []string{p.File + ": does not exist (the default applies: loopback only); create it with 'cachectl policy init'"}
	}
	where := "every address"
	var parts []string
	parts = append(parts, p.Interfaces...)
	for _, a := range p.Addresses {
		parts = append(parts, a.String())
	}
	if len(parts) > 0 {
		where = strings.Join(parts, ", ")
	}
	udp := "udp off"
	if p.UDPPort != 0 {
		udp = fmt.Sprintf("udp %d", p.UDPPort)
	}
	peers := fmt.Sprintf("%d allowed %s", p.Peers, plural(p.Peers, "peer entry", "peer entries"))
	if p.Loopback {
		peers += " plus loopback"
	}
	fw := "firewall not managed (report only)"
	if p.Managed {
		fw = fmt.Sprintf("firewall managed, others get %s", p.Verdict)
	}
	return []string{p.File, fmt.Sprintf("listen on %s, tcp %d, %s", where, p.Port, udp), peers + "; " + fw}
}

func (d daemonOverview) lines() []string {
	if !d.Running {
		return []string{d.Note, "start it with 'cachectl bind --policy FILE'"}
	}
	out := []string{describeDaemon(d.Info)}
	if s := d.Status; s != nil {
		out = append(out,
			fmt.Sprintf("up %s (since %s), allowlist generation %d", s.Uptime.Duration(), s.Started.UTC().Format(time.RFC3339), s.Generation),
			fmt.Sprintf("items %d, memory %s of %s", s.Items, mib(s.Bytes), mib(s.LimitBytes)),
			fmt.Sprintf("connections %d (%d since start), denied %d, udp denied %d", s.Connections, s.Total, s.Denied, s.UDPDenied))
	}
	return out
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (f firewallOverview) lines(managed bool) []string {
	if !f.Checked {
		return []string{"not checked: " + f.Error}
	}
	var out []string
	for _, fam := range f.Families {
		switch {
		case !fam.Available:
			out = append(out, fam.Family+": not managed here (iptables missing)")
		case !fam.Installed:
			out = append(out, fam.Family+": NOT installed")
		case !fam.InSync:
			out = append(out, fmt.Sprintf("%s: installed, DRIFTED: %s", fam.Family, fam.Drift))
		default:
			out = append(out, fmt.Sprintf("%s: installed, in sync, %d %s refused", fam.Family, fam.Refused, plural(int(fam.Refused), "packet", "packets")))
		}
	}
	if managed && !f.InSync {
		out = append(out, "run 'cachectl apply' to put the policy's rules in place")
	}
	if f.Keeper != nil {
		out = append(out, keeperLine(*f.Keeper))
	}
	for _, w := range f.Warnings {
		out = append(out, "warning: "+w)
	}
	return out
}

func keeperLine(k firewall.KeeperState) string {
	s := "keeper: rules in place"
	if !k.InPlace {
		s = "keeper: rules NOT in place: " + k.LastError
	}
	s += fmt.Sprintf(", %d %s", k.Reapplies, plural(int(k.Reapplies), "re-apply", "re-applies"))
	if !k.LastReapply.IsZero() {
		s += fmt.Sprintf(" (last %s: %s)", k.LastReapply.UTC().Format(time.RFC3339), k.LastMissing)
	}
	return s
}

func (a auditOverview) lines() []string {
	if !a.Ran {
		return []string{a.Note}
	}
	s := a.Summary
	out := []string{fmt.Sprintf("%d %s connected (%d %s): %d permitted, %d %s",
		s.Peers, plural(s.Peers, "peer", "peers"), s.Flows, plural(s.Flows, "flow", "flows"),
		s.Permitted, s.Violations, plural(s.Violations, "violation", "violations"))}
	if a.Source != nil {
		out = append(out, a.Source.Text())
	}
	for _, v := range a.Violating {
		out = append(out, fmt.Sprintf("VIOLATION: %s is connected and the policy does not permit it", v))
	}
	out = append(out, a.Findings...)
	return append(out, "details: 'cachectl audit'")
}
