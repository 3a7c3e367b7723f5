package daemon

import (
	"context"
	"log/slog"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/policy"
)

// Guard keeps a policy in force in a running daemon: the allowlist
// reloader (SIGHUP, file watch, control socket), the control socket that
// lets `cachectl allow`/`revoke` wait for the reload and `cachectl status`
// read the daemon, and, when the policy manages the firewall, the keeper.
type Guard struct {
	Path   string
	Filter func(*policy.Policy) cached.PeerFilter
	// Control is the bound control socket; nil runs without one.
	Control *ControlListener
	// Keeper keeps the firewall in place; nil when the policy does not
	// manage it. Its rules must already be applied (Keeper.Start).
	Keeper *firewall.Keeper
	// Spec turns a loaded policy into the keeper's firewall spec.
	Spec func(*policy.Policy) firewall.Spec
}

// Start installs p's allowlist and starts everything that keeps it, until
// ctx ends. It is meant for Options.Setup.
func (g *Guard) Start(ctx context.Context, srv *cached.Server, log *slog.Logger, p *policy.Policy) {
	r := &Reloader{Path: g.Path, Server: srv, Filter: g.Filter, Log: log}
	if g.Keeper != nil {
		r.OnLoad = func(p *policy.Policy) { g.Keeper.SetSpec(g.Spec(p)) }
	}
	r.Start(ctx, p)
	var fw func() firewall.KeeperState
	if g.Keeper != nil {
		fw = g.Keeper.State
		g.Keeper.Log = log // repairs belong in the daemon's log
		if ev, err := firewall.NetfilterEvents(ctx); err != nil {
			log.Warn("no nf_tables change events; the firewall keeper polls only", "interval", firewall.DefaultKeepInterval, "err", err)
		} else {
			g.Keeper.Events = ev
		}
		go g.Keeper.Run(ctx)
	}
	if g.Control != nil {
		c := &Control{Policy: g.Path, Server: srv, Reloader: r, Firewall: fw, Log: log}
		c.Tracker, c.TrackErr = StartTracker(ctx, srv, log)
		go g.Control.Serve(ctx, c.Handle, log)
	}
}

// KeeperStats is the `stats` hook (cached.Config.ExtraStats) that reports
// the keeper's repairs as firewall_reapplies.
func KeeperStats(k *firewall.Keeper) func(add func(string, any)) {
	return func(add func(string, any)) { add("firewall_reapplies", k.State().Reapplies) }
}
