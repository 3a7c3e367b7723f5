package daemon

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
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

	tracker     *audit.Tracker // the control socket's flow table; nil without
	trackErr    error          // why there is none
	stopTracker context.CancelFunc
}

// firstSyncWait bounds how long a daemon about to drop privileges waits
// for its flow table's first dump: past it the daemon serves anyway, and
// audits dump on their own.
const firstSyncWait = 5 * time.Second

// Subscribe starts following the conntrack events of srv's ports, for
// the control socket's flow table. It is meant for Options.BeforeDrop:
// subscribing needs CAP_NET_ADMIN, and so does every dump, checked
// against the task that asks. A daemon about to drop privileges to user
// therefore also waits here for the first dump; after the drop the
// events keep the table current, and a lost event puts it out of sync
// for good (audits then dump, and say why).
func (g *Guard) Subscribe(srv *cached.Server, user string, log *slog.Logger) error {
	if g.Control == nil {
		return nil // nobody would ask for the table
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.stopTracker = cancel
	g.tracker, g.trackErr = StartTracker(ctx, srv, log)
	if g.tracker == nil || user == "" || os.Geteuid() != 0 {
		return nil
	}
	wctx, wcancel := context.WithTimeout(ctx, firstSyncWait)
	defer wcancel()
	if err := g.tracker.WaitSync(wctx); err != nil {
		log.Warn("the conntrack flow table is not in sync before dropping privileges; audits will dump", "user", user, "err", err)
	}
	return nil
}

// Tracker is the daemon's conntrack flow table, or nil and why it keeps
// none; the periodic audit reads it in process.
func (g *Guard) Tracker() (*audit.Tracker, error) { return g.tracker, g.trackErr }

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
		if g.stopTracker == nil {
			// Not subscribed before the drop (no Options.BeforeDrop):
			// the daemon runs as it started.
			g.tracker, g.trackErr = StartTracker(ctx, srv, log)
		} else {
			context.AfterFunc(ctx, g.stopTracker)
		}
		c := &Control{Policy: g.Path, Server: srv, Reloader: r, Firewall: fw, Log: log, Tracker: g.tracker, TrackErr: g.trackErr}
		go g.Control.Serve(ctx, c.Handle, log)
	}
}

// KeeperStats is the `stats cachectl` hook (cached.Config.ExtraStats) that reports
// the keeper's repairs as firewall_reapplies.
func KeeperStats(k *firewall.Keeper) func(add func(string, any)) {
	return func(add func(string, any)) { add("firewall_reapplies", k.State().Reapplies) }
}
