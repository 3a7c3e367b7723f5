package main

import (
	"context"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

// addBlocked puts the firewall's default-deny counters into the report: a
// rejected attempt never reaches conntrack, so they are the only record of
// peers the firewall turned away.
func (a *app) addBlocked(ctx context.Context, rep *audit.Report, p *policy.Policy, netns string) {
	var st firewall.Status
	err := a.withApplier(netns, func(ap firewall.Applier) error {
		var err error
		st, err = firewall.ReadStatus(ctx, ap, firewallSpec(p))
		return err
	})
	if err != nil {
		rep.FirewallMissing(netinfo.FamilyAny, err.Error())
		return
	}
	blocked, missing := blockedCounts(st)
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
		b := audit.Blocked{Family: fs.Family}
		for _, r := range fs.Rules {
			if r.Refuses() {
				b.Packets += r.Packets
				b.Bytes += r.Bytes
			}
		}
		blocked = append(blocked, b)
	}
	return blocked, missing
}
