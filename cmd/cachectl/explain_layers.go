package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/policy"
)

// askDaemonFacts asks the running daemon, on the address the audit would
// use (loopback when it listens there), unless this host's own address
// is one the policy refuses: the question would then be refused too, and
// counted against this host.
func askDaemonFacts(ctx context.Context, probe hostProbe, timeout time.Duration, bound []netip.Addr,
	judge func(netip.Addr) (string, bool), port uint16, peer netip.Addr) daemonFacts {
	var f daemonFacts
	addr, _ := daemonAddr(daemonAuto, bound, port)
	f.Address = addr
	if _, ok := judge(addr.Addr()); !ok {
		f.Note = fmt.Sprintf("not asked: the question would come from %s, which the policy does not admit", addr.Addr())
		return f
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ans, err := probe.AskDaemon(ctx, addr, peer)
	switch {
	case errors.Is(err, errNotListening):
		f.Asked, f.Note = true, fmt.Sprintf("nothing accepts connections on %s", addr)
		return f
	case err != nil:
		f.Note = err.Error()
		return f
	}
	f.Asked, f.Running, f.PID = true, true, ans.PID
	for _, l := range ans.Listen {
		if !slices.Contains(f.Listen, l.Addr()) {
			f.Listen = append(f.Listen, l.Addr())
		}
	}
	f.PerPeer = ans.PerPeer
	if !ans.PerPeer {
		f.Note = "the daemon keeps no per-peer state (it does not answer 'stats peer'; stock memcached admits everyone)"
		return f
	}
	s := ans.Peer
	f.Allowlist, f.Admits, f.Entry, f.Denied, f.LastDenied = s.Allowlist, s.Admitted, s.Entry, s.Denied, s.LastDenied
	return f
}

// firewallFacts evaluates the peer's first packet through the rules the
// kernel holds now, and says whether cachectl's rules are installed and
// in sync with the policy.
func (a *app) firewallFacts(ctx context.Context, netns string, p *policy.Policy, e explanation) firewallFacts {
	f := firewallFacts{Family: e.Address.Family, Warnings: []string{}}
	err := a.withApplier(netns, func(ap firewall.Applier) error {
		if err := ap.Available(f.Family); err != nil {
			return err
		}
		f.Available = true
		save, err := ap.Save(ctx, f.Family, firewall.Table)
		if err != nil {
			return err
		}
		tbl, err := firewall.ParseFilter(save)
		if err != nil {
			return err
		}
		setSave, err := ap.SaveSets(ctx)
		if err != nil {
			return err
		}
		sets, err := firewall.ParseIPSets(setSave)
		if err != nil {
			return err
		}
		f.TCP = decide(tbl, sets, e, "tcp", e.Port)
		if e.UDPPort != 0 {
			f.UDP = decide(tbl, sets, e, "udp", e.UDPPort)
		}
		return a.firewallState(ctx, ap, p, &f)
	})
	if err != nil {
		f.Error = err.Error()
	}
	return f
}

func decide(tbl firewall.Filter, sets firewall.IPSets, e explanation, proto string, port uint16) *firewall.Decision {
	d := tbl.Evaluate(firewall.Packet{Proto: proto, Src: e.Peer.WithZone(""), Dst: e.Reach.Target, DPort: port,
		InIface: e.Reach.Arrive, CTState: "NEW"}, sets)
	return &d
}

func (a *app) firewallState(ctx context.Context, ap firewall.Applier, p *policy.Policy, f *firewallFacts) error {
	st, err := firewall.ReadStatus(ctx, ap, firewallSpec(p))
	if err != nil {
		return err
	}
	for _, fs := range st.Families {
		if fs.Family != f.Family {
			continue
		}
		f.Installed, f.InSync = fs.Installed, fs.InSync
		if fs.Installed && !fs.InSync {
			f.Drift = fs.Diff.String()
		}
		for _, w := range fs.Warnings {
			if fs.Installed || !strings.Contains(w, "not installed") { // the state already says so
				f.Warnings = append(f.Warnings, w)
			}
		}
	}
	return nil
}

// conntrackFacts lists the peer's flows that really end at the cache
// (matched on the reply's source, as the audit does).
func (a *app) conntrackFacts(ctx context.Context, netns string, peer netip.Addr, port, udpPort uint16) conntrackFacts {
	f := conntrackFacts{Flows: []peerFlow{}}
	src, err := a.flows(netns)
	if err != nil {
		f.Note = err.Error()
		return f
	}
	defer src.Close()
	flows, dumpErr := src.Flows()
	tr := src.Tracking(ctx, dumpErr, len(flows))
	f.Tracking = tr.Available && (!tr.RulesChecked || tr.ConntrackRules > 0)
	switch {
	case !tr.Available:
		f.Note = tr.Reason
	case tr.RulesChecked && tr.ConntrackRules == 0:
		f.Note = "conntrack is not tracking in this namespace (no rule uses it), so no flow can show; 'cachectl apply' turns it on"
	}
	peer = peer.WithZone("")
	cache := audit.Rules{Port: port, UDPPort: udpPort}
	for _, fl := range flows {
		if !cache.Selects(fl) || fl.Orig.Src.Addr().WithZone("") != peer {
			continue
		}
		f.Flows = append(f.Flows, peerFlow{Proto: fl.Proto.String(), State: fl.StateName(), From: fl.Orig.Src, To: fl.Orig.Dst})
	}
	return f
}
