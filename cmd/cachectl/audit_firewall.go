package main

import (
	"context"
	"fmt"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

// auditFirewall is what the audit reads from the firewall: its state, or
// why it could not be read. One read serves both the dump's mark filter and
// the blocked counters.
type auditFirewall struct {
	status firewall.Status
	err    error
}

func (a *app) readAuditFirewall(ctx context.Context, p *policy.Policy, netns string) auditFirewall {
	var fw auditFirewall
	fw.err = a.withApplier(netns, func(ap firewall.Applier) error {
		var err error
		fw.status, err = firewall.ReadStatus(ctx, ap, firewallSpec(p))
		return err
	})
	return fw
}

// mark is the conntrack mark the audit may filter the dump on: only when
// every family's firewall is cachectl's and marks every cache port, since
// a flow that escapes the mark would escape the audit. Otherwise it says why.
func (fw auditFirewall) mark(r audit.Rules) (audit.Mark, string) {
	if fw.err != nil {
		return audit.Mark{}, "cachectl's firewall could not be read: " + fw.err.Error()
	}
	for _, fs := range fw.status.Families {
		for _, port := range []uint16{r.Port, r.UDPPort} {
			if port != 0 && !fs.Marks(port) {
				return audit.Mark{}, fmt.Sprintf("cachectl's firewall for %s does not mark port %d (not installed, or applied by an older cachectl)", fs.Family, port)
			}
		}
	}
	if len(fw.status.Families) == 0 {
		return audit.Mark{}, "no firewall family was read"
	}
	return audit.Mark{Value: firewall.ConnMark, Mask: firewall.ConnMarkMask}, ""
}

// addBlocked puts the firewall's default-deny counters into the report: a
// rejected attempt never reaches conntrack, so they are the only record of
// peers the firewall turned away.
func (fw auditFirewall) addBlocked(rep *audit.Report) {
	if fw.err != nil {
		rep.FirewallMissing(netinfo.FamilyAny, fw.err.Error())
		return
	}
	blocked, missing := blockedCounts(fw.status)
	rep.AddBlocked(blocked)
	for _, m := range missing {
		rep.FirewallMissing(m.family, m.why)
	}
}

type missingFamily struct {
	family netinfo.Family
	why    string
}

// blockedCounts sums, per family, the counters of the rules that refuse
// (reject or drop); a family without cachectl's rules is reported missing.
func blockedCounts(st firewall.Status) ([]audit.Blocked, []missingFamily) {
	var blocked []audit.Blocked
	var missing []missingFamily
	for _, fs := range st.Families {
		switch {
		case !fs.Available:
			missing = append(missing, missingFamily{fs.Family, "its iptables is not available"})
			continue
		case !fs.Installed:
			missing = append(missing, missingFamily{fs.Family, "cachectl's firewall is not installed, so nothing stops unpermitted peers"})
			continue
		}
		blocked = append(blocked, audit.Blocked{Family: fs.Family, Counters: fs.Refused()})
	}
	return blocked, missing
}
