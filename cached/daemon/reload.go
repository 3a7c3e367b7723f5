package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/policy"
)

// Reloader keeps a policy file's allowlist in force in a running daemon: it
// re-reads the file on SIGHUP, whenever the file changes and when asked
// through Reload (the control socket), and installs the new peer filter,
// which also closes connections no longer allowed. A policy that fails to
// load is logged and the previous allowlist stays.
type Reloader struct {
	Path   string
	Server FilterSetter
	// Filter turns a loaded policy into the server's peer filter.
	Filter func(*policy.Policy) cached.PeerFilter
	// OnLoad, if set, sees every policy installed, after its filter.
	OnLoad func(*policy.Policy)
	Log    *slog.Logger

	requests chan reloadRequest
	gen      uint64 // installs so far; only the run goroutine touches it
	current  atomic.Pointer[Loaded]
}

// FilterSetter is the part of *cached.Server the reloader uses.
type FilterSetter interface {
	SetPeerFilter(cached.PeerFilter)
}

// Loaded is one installed allowlist.
type Loaded struct {
	// Generation counts the allowlists this daemon has installed, 1 first.
	Generation uint64
	Policy     *policy.Policy
	Filter     cached.PeerFilter
}

// reloadTrigger names what made the daemon re-read the policy, for the log.
type reloadTrigger string

const (
	triggerSIGHUP  reloadTrigger = "SIGHUP"
	triggerWatch   reloadTrigger = "file changed"
	triggerControl reloadTrigger = "control socket"
)

type reloadRequest struct {
	trigger reloadTrigger
	done    chan reloadOutcome // nil: nobody waits
}

type reloadOutcome struct {
	loaded Loaded
	err    error
}

// ErrStopped is Reload's answer once the reloader has stopped.
var ErrStopped = errors.New("the daemon is stopping")

// Start installs p's allowlist as generation 1, catches SIGHUP before it
// returns, so an early SIGHUP cannot kill the daemon with the default
// action, and reloads until ctx ends.
func (r *Reloader) Start(ctx context.Context, p *policy.Policy) {
	r.requests = make(chan reloadRequest, 1)
	r.install(p)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go r.run(ctx, hup)
}

// Reload re-reads the policy file and installs it, returning once the new
// allowlist is in force (and connections it refuses are closed).
func (r *Reloader) Reload(ctx context.Context) (Loaded, error) {
	req := reloadRequest{trigger: triggerControl, done: make(chan reloadOutcome, 1)}
	select {
	case r.requests <- req:
	case <-ctx.Done():
		return Loaded{}, ErrStopped
	}
	select {
	case out := <-req.done:
		return out.loaded, out.err
	case <-ctx.Done():
		return Loaded{}, ErrStopped
	}
}

func (r *Reloader) run(ctx context.Context, hup chan os.Signal) {
	defer signal.Stop(hup)
	go r.watch(ctx)
	// One goroutine applies reloads, each from a fresh read of the file, so
	// a slow older read can never overwrite a newer allowlist.
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload(triggerSIGHUP)
		case req := <-r.requests:
			loaded, err := r.reload(req.trigger)
			if req.done != nil {
				req.done <- reloadOutcome{loaded, err}
			}
		}
	}
}

// watch asks for a reload whenever the policy file changes.
func (r *Reloader) watch(ctx context.Context) {
	err := policy.Watch(ctx, r.Path,
		func(*policy.Policy) {
			select {
			case r.requests <- reloadRequest{trigger: triggerWatch}:
			default: // a reload is already pending and will read the newest file
			}
		},
		func(err error) {
			r.Log.Error("policy file changed but cannot be used; the previous allowlist stays in force", "policy", r.Path, "err", err)
		})
	if err != nil {
		r.Log.Error("not watching the policy file; send SIGHUP after editing it", "policy", r.Path, "err", err)
	}
}

func (r *Reloader) reload(t reloadTrigger) (Loaded, error) {
	p, err := policy.Load(r.Path)
	if err != nil {
		r.Log.Error("cannot reload the policy; the previous allowlist stays in force", "trigger", string(t), "policy", r.Path, "err", err)
		return Loaded{}, err
	}
	loaded := r.install(p)
	// Warn, not Info: a change of who may connect must show at the default -v level.
	r.Log.Warn("allowlist reloaded", "trigger", string(t), "policy", r.Path, "generation", loaded.Generation, "allowed", AllowedList(p))
	return loaded, nil
}

func (r *Reloader) install(p *policy.Policy) Loaded {
	f := r.Filter(p)
	r.Server.SetPeerFilter(f)
	r.gen++
	if r.OnLoad != nil {
		r.OnLoad(p)
	}
	loaded := Loaded{Generation: r.gen, Policy: p, Filter: f}
	r.current.Store(&loaded)
	return loaded
}

// Current is the allowlist in force; ok is false before Start.
func (r *Reloader) Current() (Loaded, bool) {
	if l := r.current.Load(); l != nil {
		return *l, true
	}
	return Loaded{}, false
}

// AllowedList says who may connect under p, in one line.
func AllowedList(p *policy.Policy) string {
	var parts []string
	if p.LoopbackAllowed() {
		parts = append(parts, "loopback (127.0.0.0/8, ::1)")
	}
	for _, pf := range p.Prefixes() {
		parts = append(parts, pf.String())
	}
	if len(parts) == 0 {
		return "nobody (loopback is off and no peer is allowed)"
	}
	if len(parts) == 1 && p.LoopbackAllowed() {
		return "loopback only (127.0.0.0/8, ::1)"
	}
	return strings.Join(parts, ", ")
}
