package daemon

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/policy"
)

// Reloader keeps a policy file's allowlist in force in a running daemon: it
// re-reads the file on SIGHUP and whenever the file changes, and installs
// the new peer filter, which also closes connections no longer allowed. A
// policy that fails to load is logged and the previous allowlist stays.
type Reloader struct {
	Path   string
	Server FilterSetter
	// Filter turns a loaded policy into the server's peer filter.
	Filter func(*policy.Policy) cached.PeerFilter
	Log    *slog.Logger
}

// FilterSetter is the part of *cached.Server the reloader uses.
type FilterSetter interface {
	SetPeerFilter(cached.PeerFilter)
}

// reloadTrigger names what made the daemon re-read the policy, for the log.
type reloadTrigger string

const (
	triggerSIGHUP reloadTrigger = "SIGHUP"
	triggerWatch  reloadTrigger = "file changed"
)

// Start catches SIGHUP before it returns, so an early SIGHUP cannot kill
// the daemon with the default action, and reloads until ctx ends.
func (r Reloader) Start(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go r.run(ctx, hup, make(chan reloadTrigger, 1))
}

func (r Reloader) run(ctx context.Context, hup chan os.Signal, requests chan reloadTrigger) {
	defer signal.Stop(hup)
	go r.watch(ctx, requests)
	// One goroutine applies reloads, each from a fresh read of the file, so
	// a slow older read can never overwrite a newer allowlist.
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload(triggerSIGHUP)
		case t := <-requests:
			r.reload(t)
		}
	}
}

// watch asks for a reload whenever the policy file changes.
func (r Reloader) watch(ctx context.Context, requests chan reloadTrigger) {
	err := policy.Watch(ctx, r.Path,
		func(*policy.Policy) {
			select {
			case requests <- triggerWatch:
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

func (r Reloader) reload(t reloadTrigger) {
	p, err := policy.Load(r.Path)
	if err != nil {
		r.Log.Error("cannot reload the policy; the previous allowlist stays in force", "trigger", string(t), "policy", r.Path, "err", err)
		return
	}
	r.Server.SetPeerFilter(r.Filter(p))
	// Warn, not Info: a change of who may connect must show at the default -v level.
	r.Log.Warn("allowlist reloaded", "trigger", string(t), "policy", r.Path, "allowed", AllowedList(p))
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
