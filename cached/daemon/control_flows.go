package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/firewall/audit"
)

// FlowsReport is the daemon's conntrack flow table for an audit: the
// flows of its ports as conntrack events left them, read after every event
// queued when the request arrived. Flows is empty unless InSync.
type FlowsReport struct {
	audit.TableStatus
	// NetNS is the inode of the network namespace the table follows; an
	// audit of another namespace must not use it.
	NetNS uint64       `json:"netns"`
	Flows []audit.Flow `json:"flows"`
}

// StartTracker follows the conntrack events of srv's ports in the
// daemon's own network namespace, for audits to read over the control
// socket instead of dumping the host's table. A daemon that cannot
// (no CAP_NET_ADMIN, no nf_conntrack_netlink) runs on without it: audits
// then dump the table as before, and say why.
func StartTracker(ctx context.Context, srv *cached.Server, log *slog.Logger) (*audit.Tracker, error) {
	var ports []audit.Port
	for _, ap := range srv.Addrs() {
		ports = append(ports, audit.Port{Proto: audit.TCP, Port: ap.Port()})
	}
	for _, ap := range srv.UDPAddrs() {
		ports = append(ports, audit.Port{Proto: audit.UDP, Port: ap.Port()})
	}
	slices.SortFunc(ports, func(a, b audit.Port) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	ports = slices.Compact(ports)
	tr, err := audit.StartTracker(ctx, audit.TrackerConfig{Ports: ports, Log: log})
	if err != nil {
		log.Warn("not tracking the cache's conntrack flows; audits will dump the table", "err", err)
		return nil, err
	}
	return tr, nil
}

// errNotTracking is the reply's error when the daemon keeps no table.
var errNotTracking = errors.New("the daemon does not track conntrack flows")

func (c *Control) flows() (*FlowsReport, error) {
	if c.Tracker == nil {
		if c.TrackErr != nil {
			return nil, fmt.Errorf("%w: %w", errNotTracking, c.TrackErr)
		}
		return nil, errNotTracking
	}
	return TrackedFlows(c.Tracker)
}

// TrackedFlows reads tr's table as the control socket hands it out; the
// daemon's own periodic audit reads it so, without the socket.
func TrackedFlows(tr *audit.Tracker) (*FlowsReport, error) {
	rep := &FlowsReport{NetNS: tr.NetNS(), Flows: []audit.Flow{}}
	st, err := tr.Flows(func(f *audit.Flow) { rep.Flows = append(rep.Flows, *f) })
	rep.TableStatus = st
	if err != nil {
		return rep, fmt.Errorf("reading the conntrack flow table: %w", err)
	}
	return rep, nil
}
