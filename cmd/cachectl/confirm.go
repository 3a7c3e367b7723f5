package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/cachectl/cachectl/cached/daemon"
)

// confirmTimeout bounds how long allow and revoke wait for the daemon to
// load the new allowlist (and, for revoke, to close the connections).
const confirmTimeout = 2 * time.Second

// daemonConfirmation is the running daemon's answer to "load the policy
// now", or the reason there is none.
type daemonConfirmation struct {
	Running bool                 `json:"running"`
	Note    string               `json:"note,omitempty"` // why nothing was confirmed
	Daemon  *daemon.DaemonInfo   `json:"daemon,omitempty"`
	Reload  *daemon.ReloadReport `json:"reload,omitempty"`
}

// liveBefore counts each peer's connections to the daemon before the
// policy changes, so that revoke can tell how many it closed even when the
// daemon's file watch reloads before revoke asks. Best effort: nil when
// no daemon answers.
func liveBefore(path string, peers []netip.Prefix) []int {
	rep, err := daemon.Ask(path, daemon.ControlRequest{Op: daemon.OpStatus, Check: peers}, confirmTimeout)
	if err != nil || rep.Status == nil || len(rep.Status.Peers) != len(peers) {
		return nil
	}
	counts := make([]int, len(peers))
	for i, p := range rep.Status.Peers {
		counts[i] = p.Live
	}
	return counts
}

// confirmReload asks the daemon serving the policy at path to reload it
// and to report on peers; before are their live connections before the
// change (nil: unknown). No daemon is not an error: the policy file is
// what the next daemon loads.
func confirmReload(path string, peers []netip.Prefix, before []int) (daemonConfirmation, error) {
	rep, err := daemon.Ask(path, daemon.ControlRequest{Op: daemon.OpReload, Check: peers}, confirmTimeout)
	if rep.Reload != nil && len(before) == len(rep.Reload.Peers) {
		for i := range rep.Reload.Peers {
			p := &rep.Reload.Peers[i]
			p.Closed = max(p.Closed, before[i]-p.Live)
		}
	}
	if errors.Is(err, daemon.ErrNoDaemon) {
		return daemonConfirmation{Note: err.Error()}, nil
	}
	c := daemonConfirmation{Running: rep.Daemon.PID != 0, Reload: rep.Reload}
	if c.Running {
		c.Daemon = &rep.Daemon
	}
	if err != nil {
		return c, fmt.Errorf("the policy file was changed, but the daemon did not confirm loading it within %s: %w", confirmTimeout, err)
	}
	return c, nil
}

// describeDaemon names a daemon for people: pid and addresses.
func describeDaemon(d *daemon.DaemonInfo) string {
	var addrs []string
	for _, ap := range d.Addrs {
		addrs = append(addrs, ap.String())
	}
	if len(addrs) == 0 {
		return fmt.Sprintf("daemon pid %d", d.PID)
	}
	return fmt.Sprintf("daemon pid %d (%s)", d.PID, strings.Join(addrs, ", "))
}

// writeConfirmation says which daemon loaded the allowlist and what each
// peer's standing is now.
func writeConfirmation(w io.Writer, c daemonConfirmation) {
	if !c.Running {
		fmt.Fprintf(w, "%s; the policy takes effect when a daemon starts with it\n", strings.TrimSuffix(c.Note, "."))
		return
	}
	if c.Reload == nil {
		return
	}
	fmt.Fprintf(w, "%s loaded the new allowlist (generation %d)\n", describeDaemon(c.Daemon), c.Reload.Generation)
	for _, p := range c.Reload.Peers {
		fmt.Fprintf(w, "  %s\n", peerStanding(p))
	}
}

func peerStanding(p daemon.PeerReport) string {
	if p.Admitted {
		s := fmt.Sprintf("%s: admitted (by %s)", p.Prefix, p.Entry)
		if p.Live > 0 {
			s += fmt.Sprintf(", %d live %s", p.Live, plural(p.Live, "connection", "connections"))
		}
		return s
	}
	s := fmt.Sprintf("%s: refused", p.Prefix)
	switch {
	case p.Closed > 0 && p.Live == 0:
		s += fmt.Sprintf("; closed its %d live %s, none remain", p.Closed, plural(p.Closed, "connection", "connections"))
	case p.Live > 0:
		s += fmt.Sprintf("; %d %s STILL open", p.Live, plural(p.Live, "connection", "connections"))
	default:
		s += "; no live connections"
	}
	return s
}

// lingering is revoke's failure: a refused peer the kernel still shows
// connected after the daemon's bounded wait.
func lingering(c daemonConfirmation) error {
	if c.Reload == nil {
		return nil
	}
	for _, p := range c.Reload.Peers {
		if !p.Admitted && p.Live > 0 {
			return fmt.Errorf("%s still has %d live %s to %s after the reload", p.Prefix, p.Live, plural(p.Live, "connection", "connections"), describeDaemon(c.Daemon))
		}
	}
	return nil
}
