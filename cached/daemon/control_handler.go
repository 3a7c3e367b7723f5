package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
)

// Control answers the control socket for a daemon that serves a policy.
type Control struct {
	Policy   string
	Server   *cached.Server
	Reloader *Reloader
	// Firewall reports the firewall keeper's state; nil when the daemon
	// does not keep the firewall.
	Firewall func() firewall.KeeperState
	Log      *slog.Logger
	// Tracker keeps the cache ports' conntrack flows for audits; nil when
	// the daemon could not start it, and TrackErr then says why.
	Tracker  *audit.Tracker
	TrackErr error

	// live lists the peers with established TCP connections to ports;
	// nil means the kernel's socket table (sock_diag).
	live func(ports []uint16) ([]netip.Addr, error)
}

// closeWait bounds how long a reload waits for the kernel to show a
// refused peer's connections gone: they are shut down at once, but one
// still in the accept queue is closed only when the daemon accepts it.
const closeWait = time.Second

// Handle answers one request.
func (c *Control) Handle(ctx context.Context, req ControlRequest) ControlReply {
	rep := ControlReply{Daemon: c.info()}
	switch req.Op {
	case OpReload:
		r, err := c.reload(ctx, req.Check)
		if err != nil {
			rep.Error = err.Error()
		}
		rep.Reload = r
	case OpStatus:
		rep.Status = c.status()
		if err := c.peers(rep.Status, req.Check); err != nil {
			rep.Error = err.Error()
		}
	case OpFlows:
		r, err := c.flows()
		if err != nil {
			rep.Error = err.Error()
		}
		rep.Flows = r
	default:
		rep.Error = fmt.Sprintf("unknown op %q (want %q, %q or %q)", req.Op, OpReload, OpStatus, OpFlows)
	}
	return rep
}

func (c *Control) info() DaemonInfo {
	return DaemonInfo{PID: os.Getpid(), Policy: c.Policy, Addrs: c.Server.Addrs(), UDP: c.Server.UDPAddrs()}
}

func (c *Control) reload(ctx context.Context, check []netip.Prefix) (*ReloadReport, error) {
	before, _ := c.liveFrom(check) // best effort: only "closed" depends on it
	loaded, err := c.Reloader.Reload(ctx)
	if err != nil {
		return nil, fmt.Errorf("the policy could not be loaded, the previous allowlist stays in force: %w", err)
	}
	rep := &ReloadReport{Generation: loaded.Generation, Allowed: AllowedList(loaded.Policy)}
	for _, pf := range check {
		entry, ok := loaded.Filter(pf.Addr())
		rep.Peers = append(rep.Peers, PeerReport{Prefix: pf, Admitted: ok, Entry: entry})
	}
	after, err := c.waitClosed(ctx, rep.Peers)
	if err != nil {
		return rep, fmt.Errorf("the allowlist is in force, but its connections could not be counted: %w", err)
	}
	for i := range rep.Peers {
		rep.Peers[i].Live = after[i]
		rep.Peers[i].Closed = max(before[i]-after[i], 0)
	}
	return rep, nil
}

// waitClosed counts, per checked peer, the connections still established,
// waiting up to closeWait for those of refused peers to reach zero.
func (c *Control) waitClosed(ctx context.Context, peers []PeerReport) ([]int, error) {
	prefixes := make([]netip.Prefix, len(peers))
	for i, p := range peers {
		prefixes[i] = p.Prefix
	}
	deadline := time.Now().Add(closeWait)
	for {
		counts, err := c.liveFrom(prefixes)
		if err != nil {
			return nil, err
		}
		lingering := false
		for i, p := range peers {
			lingering = lingering || (!p.Admitted && counts[i] > 0)
		}
		if !lingering || time.Now().After(deadline) || ctx.Err() != nil {
			return counts, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// liveFrom counts established connections to the daemon's TCP ports from
// each prefix.
func (c *Control) liveFrom(prefixes []netip.Prefix) ([]int, error) {
	counts := make([]int, len(prefixes))
	if len(prefixes) == 0 {
		return counts, nil
	}
	var ports []uint16
	for _, ap := range c.Server.Addrs() {
		ports = append(ports, ap.Port())
	}
	live := c.live
	if live == nil {
		live = establishedPeers
	}
	peers, err := live(ports)
	if err != nil {
		return counts, err
	}
	for _, a := range peers {
		for i, pf := range prefixes {
			if pf.Contains(a) {
				counts[i]++
			}
		}
	}
	return counts, nil
}

// peers reports how the allowlist in force treats each prefix.
func (c *Control) peers(rep *StatusReport, check []netip.Prefix) error {
	cur, ok := c.Reloader.Current()
	if !ok || len(check) == 0 {
		return nil
	}
	counts, err := c.liveFrom(check)
	if err != nil {
		return fmt.Errorf("counting connections: %w", err)
	}
	for i, pf := range check {
		entry, admitted := cur.Filter(pf.Addr())
		rep.Peers = append(rep.Peers, PeerReport{Prefix: pf, Admitted: admitted, Entry: entry, Live: counts[i]})
	}
	return nil
}

func (c *Control) status() *StatusReport {
	cn := c.Server.Counters()
	st := c.Server.Store().Stats()
	rep := &StatusReport{
		Started:     cn.Started,
		Uptime:      Seconds(time.Since(cn.Started) / time.Second),
		Items:       st.CurrItems,
		Bytes:       st.Bytes,
		LimitBytes:  st.LimitMaxbytes,
		Connections: cn.CurrConnections,
		Total:       cn.TotalConnections,
		Denied:      cn.Denied,
		UDPDenied:   cn.UDPDenied,
	}
	if cur, ok := c.Reloader.Current(); ok {
		rep.Generation, rep.Allowed = cur.Generation, AllowedList(cur.Policy)
	}
	if c.Firewall != nil {
		fw := c.Firewall()
		rep.Firewall = &fw
	}
	return rep
}
