package firewall

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cachectl/cachectl/netinfo"
)

// How often the keeper probes. A probe is six short iptables -C execs (three
// per family); once a second that measured 1.9% of one core here, every 4 s 0.6%. With
// nf_tables change events every removal is seen at once and the poll only
// covers a lost event, so it runs every EventsKeepInterval (still a repair
// within 5 s); without events (the legacy backend sends none) it runs every
// DefaultKeepInterval.
const (
	DefaultKeepInterval = time.Second
	EventsKeepInterval  = 4 * time.Second
)

// Keeper keeps cachectl's rules in the kernel while a daemon runs: it
// applies them at start, probes on every netfilter change event and every
// Interval, and re-applies them (the same Apply as `cachectl apply`) when
// something else removed them. It never removes them: a daemon that stops
// leaves its rules in place, so a restart opens no window, and
// `cachectl firewall remove` is how they go.
type Keeper struct {
	Applier Applier
	Probe   Probe
	// Spec reads the policy's current firewall spec from its file. The
	// keeper reads it before a repair, so it re-applies what the file says
	// now, never an allowlist it remembers.
	Spec func() (Spec, error)
	// Events, if set, notifies of netfilter changes (NetfilterEvents).
	Events <-chan struct{}
	// Interval between probes; zero picks DefaultKeepInterval, or
	// EventsKeepInterval when Events is set.
	Interval time.Duration
	Log      *slog.Logger

	mu    sync.Mutex
	spec  Spec
	fams  []netinfo.Family // families Apply manages here
	state KeeperState
}

// KeeperState is what the keeper has done, for `stats` and `cachectl status`.
type KeeperState struct {
	InPlace     bool      `json:"in_place"` // the last probe found every rule
	Reapplies   uint64    `json:"firewall_reapplies"`
	Checks      uint64    `json:"checks"`
	LastCheck   time.Time `json:"last_check,omitzero"`
	LastReapply time.Time `json:"last_reapply,omitzero"`
	LastMissing string    `json:"last_missing,omitempty"` // what the last repair put back
	LastError   string    `json:"last_error,omitempty"`
	Events      bool      `json:"events"` // repairs are triggered by nf_tables events, not only the poll
}

// Start applies the rules now; an error means they could not be put in
// place and the caller should not serve.
func (k *Keeper) Start(ctx context.Context) error {
	spec, err := k.Spec()
	if err != nil {
		return fmt.Errorf("reading the policy for the firewall: %w", err)
	}
	if err := k.apply(ctx, spec); err != nil {
		return err
	}
	k.mu.Lock()
	k.state.InPlace = true
	k.mu.Unlock()
	return nil
}

// Run keeps the rules in place until ctx ends.
func (k *Keeper) Run(ctx context.Context) {
	interval := k.Interval
	switch {
	case interval > 0:
	case k.Events != nil:
		interval = EventsKeepInterval
	default:
		interval = DefaultKeepInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	events := k.Events
	k.mu.Lock()
	k.state.Events = events != nil
	k.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case _, ok := <-events:
			if !ok {
				if k.Interval <= 0 {
					interval = DefaultKeepInterval
					tick.Reset(interval)
				}
				k.logger().Warn("nf_tables events stopped; the firewall keeper polls only", "interval", interval)
				events = nil
				k.mu.Lock()
				k.state.Events = false
				k.mu.Unlock()
			}
		}
		k.Check(ctx)
	}
}

// SetSpec tells the keeper about a policy the daemon has just installed.
func (k *Keeper) SetSpec(s Spec) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.spec = s
}

// State returns a copy of the keeper's state.
func (k *Keeper) State() KeeperState {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state
}

// Check probes once and re-applies when something is missing. It reports
// whether it re-applied.
func (k *Keeper) Check(ctx context.Context) bool {
	k.mu.Lock()
	spec, fams := k.spec, k.fams
	k.mu.Unlock()
	missing, err := k.missing(ctx, spec, fams)
	if err == nil && len(missing) > 0 {
		// Re-read the file before repairing: the probe used the allowlist
		// the daemon last installed, and the file may be newer.
		if fresh, ferr := k.Spec(); ferr == nil {
			spec = fresh
			missing, err = k.missing(ctx, spec, fams)
		} else {
			k.logger().Error("cannot read the policy; re-applying the rules of the last one loaded", "err", ferr)
		}
	}
	if err == nil && len(missing) > 0 {
		if err = k.apply(ctx, spec); err == nil {
			k.logger().Warn("firewall rules were removed by something else; re-applied", "missing", describeMissing(missing))
		}
	}
	k.record(missing, err)
	if err != nil {
		k.logger().Error("firewall keeper: the rules may not be in place", "err", err)
	}
	return err == nil && len(missing) > 0
}

func (k *Keeper) missing(ctx context.Context, spec Spec, fams []netinfo.Family) ([]string, error) {
	var missing []string
	for _, f := range fams {
		m, err := k.Probe.Missing(ctx, NewRuleset(spec, f))
		if err != nil {
			return nil, err
		}
		for _, what := range m {
			missing = append(missing, f.String()+" "+what)
		}
	}
	return missing, nil
}

func (k *Keeper) record(missing []string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.state.Checks++
	k.state.LastCheck = time.Now()
	k.state.LastError = ""
	switch {
	case err != nil:
		k.state.InPlace = false
		k.state.LastError = err.Error()
	case len(missing) > 0:
		k.state.InPlace = true
		k.state.Reapplies++
		k.state.LastReapply = k.state.LastCheck
		k.state.LastMissing = describeMissing(missing)
	default:
		k.state.InPlace = true
	}
}

// apply loads spec and remembers which families it manages.
func (k *Keeper) apply(ctx context.Context, spec Spec) error {
	res, err := Apply(ctx, k.Applier, spec, k.logger())
	if err != nil {
		return fmt.Errorf("applying the firewall: %w", err)
	}
	var fams []netinfo.Family
	for _, fr := range res.Families {
		if fr.Applied {
			fams = append(fams, fr.Family)
		}
	}
	k.mu.Lock()
	k.spec, k.fams = spec, fams
	k.mu.Unlock()
	return nil
}

func (k *Keeper) logger() *slog.Logger {
	if k.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return k.Log
}
