package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/firewall/audit"
)

// auditFlows audits the cache's flows from the best source: under
// --filter auto the table the daemon keeps from conntrack events, when
// the daemon serving this policy has one in sync for this namespace and
// these ports; else a filtered dump, as --filter asks. The report says
// which, and why.
func (a *app) auditFlows(ctx context.Context, opts auditOptions, r audit.Rules, q audit.Query) (audit.Report, error) {
	src, err := a.flows(opts.netns)
	if err != nil {
		return audit.Report{}, fmt.Errorf("audit: %w (are you root? is nf_conntrack_netlink loaded?)", err)
	}
	defer src.Close()
	source := audit.FlowSource{Kind: audit.SourceDump, Fallback: fmt.Sprintf("--filter %s asks for a dump", q.Filter)}
	if q.Filter == audit.FilterAuto {
		var flows []audit.Flow
		if flows, source = trackedFlows(opts, q.Ports); source.Kind == audit.SourceDaemon {
			src = audit.FromTable(src, flows)
		}
	}
	rep := audit.Take(ctx, src, r, q)
	rep.NoteSource(source)
	return rep, nil
}

// trackedFlows asks the daemon serving the policy for its flow table. It
// returns the flows, or none and the reason the audit has to dump.
func trackedFlows(opts auditOptions, ports []audit.Port) ([]audit.Flow, audit.FlowSource) {
	fallback := func(format string, args ...any) ([]audit.Flow, audit.FlowSource) {
		return nil, audit.FlowSource{Kind: audit.SourceDump, Fallback: fmt.Sprintf(format, args...)}
	}
	rep, err := daemon.Ask(opts.policy, daemon.ControlRequest{Op: daemon.OpFlows}, opts.timeout)
	switch {
	case errors.Is(err, daemon.ErrNoDaemon):
		return fallback("no daemon serves this policy")
	case err != nil:
		return fallback("%v", err)
	case rep.Flows == nil:
		return fallback("daemon pid %d keeps no flow table (an older cachectl)", rep.Daemon.PID)
	}
	ft := rep.Flows
	if !ft.InSync {
		return fallback("daemon pid %d: its table is not in sync: %s", rep.Daemon.PID, ft.Reason)
	}
	ns, err := namespaceInode(opts.netns)
	if err != nil {
		return fallback("naming the audited network namespace: %v", err)
	}
	if ns != ft.NetNS {
		return fallback("daemon pid %d tracks another network namespace", rep.Daemon.PID)
	}
	for _, p := range ports {
		if !slices.Contains(ft.Ports, p) {
			return fallback("daemon pid %d does not track %s", rep.Daemon.PID, p)
		}
	}
	return ft.Flows, audit.DaemonSource(rep.Daemon.PID, ft.TableStatus)
}

// namespaceInode names the network namespace an audit reads ("" = this
// process's) the way the daemon names the one it tracks.
func namespaceInode(name string) (uint64, error) {
	var st unix.Stat_t
	if name == "" {
		if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
			return 0, os.NewSyscallError("stat /proc/self/ns/net", err)
		}
		return st.Ino, nil
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return 0, fmt.Errorf("network namespace %q: %w", name, err)
	}
	defer h.Close()
	if err := unix.Fstat(int(h), &st); err != nil {
		return 0, os.NewSyscallError("fstat "+name, err)
	}
	return st.Ino, nil
}
