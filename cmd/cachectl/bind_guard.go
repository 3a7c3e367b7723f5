package main

import (
	"context"
	"errors"
	"os"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

// prepareGuard binds the control socket and, when the policy manages the
// firewall, applies the rules, all before the daemon listens and while it
// still runs as root. The returned func releases what was taken.
func prepareGuard(a *app, o *bindOptions, p *policy.Policy, cfg *daemon.Config) (*daemon.Guard, func(), error) {
	if p.Firewall.Managed && o.daemon.User != "" && os.Geteuid() == 0 {
		return nil, nil, usageErrorf("-u %s: the policy manages the firewall (firewall.managed: true), and keeping the rules in place needs root (CAP_NET_ADMIN) for as long as the daemon runs; run without -u, or as a user with CAP_NET_ADMIN (systemd AmbientCapabilities)", o.daemon.User)
	}
	g := &daemon.Guard{Path: o.policy, Filter: peerFilter, Spec: firewallSpec}
	ctl, err := daemon.ListenControl(daemon.ControlPath(o.policy))
	if errors.Is(err, daemon.ErrControlInUse) {
		return nil, nil, usageError(err)
	}
	if err != nil {
		return nil, nil, err
	}
	g.Control = ctl
	if p.Firewall.Managed {
		k, err := startKeeper(a, o.policy)
		if err != nil {
			ctl.Close()
			return nil, nil, err
		}
		g.Keeper = k
		cfg.Server.ExtraStats = daemon.KeeperStats(k)
	}
	return g, func() { ctl.Close() }, nil
}

// peerFilter is the daemon's allowlist under p. Without the host's
// addresses the judge falls back to the policy alone, which only errs on
// the strict side.
func peerFilter(p *policy.Policy) cached.PeerFilter {
	own, _ := netinfo.Current().LocalAddrs()
	return p.Judge(own)
}

// startKeeper applies the policy's rules in this namespace and returns the
// keeper that holds them there while the daemon runs.
func startKeeper(a *app, path string) (*firewall.Keeper, error) {
	ap, err := a.applier("")
	if err != nil {
		return nil, err
	}
	k := &firewall.Keeper{
		Applier: ap,
		Probe:   firewall.NewIPTablesProbe(),
		Spec: func() (firewall.Spec, error) {
			p, err := policy.Load(path)
			if err != nil {
				return firewall.Spec{}, policyFileError(err)
			}
			return firewallSpec(p), nil
		},
		Log: firewallLogger(a),
	}
	if err := k.Start(context.Background()); err != nil {
		return nil, err
	}
	return k, nil
}
