package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

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
	return a.auditFrom(ctx, opts.netns, r, q, daemonTable(opts.policy, opts.timeout))
}

// tableFlows is where an audit under --filter auto looks first: a
// daemon's flow table, asked over its control socket or read in process.
// It returns the flows, or none and why the audit has to dump.
type tableFlows func(netns string, ports []audit.Port) ([]audit.Flow, audit.FlowSource)

// auditFrom is the one audit path of `audit`, `status` and the periodic
// audit behind the metrics: the daemon's table when table vouches for
// it, else the streamed, filtered dump (audit.Take).
func (a *app) auditFrom(ctx context.Context, netns string, r audit.Rules, q audit.Query, table tableFlows) (audit.Report, error) {
	src, err := a.flows(netns)
	if err != nil {
		return audit.Report{}, fmt.Errorf("audit: %w (are you root? is nf_conntrack_netlink loaded?)", err)
	}
	defer src.Close()
	source := audit.FlowSource{Kind: audit.SourceDump, Fallback: fmt.Sprintf("--filter %s asks for a dump", q.Filter)}
	if q.Filter == audit.FilterAuto {
		var flows []audit.Flow
		if flows, source = table(netns, q.Ports); source.Kind == audit.SourceDaemon {
			src = audit.FromTable(src, flows)
		}
	}
	rep := audit.Take(ctx, src, r, q)
	rep.NoteSource(source)
	return rep, nil
}

func dumpBecause(format string, args ...any) ([]audit.Flow, audit.FlowSource) {
	return nil, audit.FlowSource{Kind: audit.SourceDump, Fallback: fmt.Sprintf(format, args...)}
}

// daemonTable asks the daemon serving the policy for its flow table.
func daemonTable(policyPath string, timeout time.Duration) tableFlows {
	return func(netns string, ports []audit.Port) ([]audit.Flow, audit.FlowSource) {
		rep, err := daemon.Ask(policyPath, daemon.ControlRequest{Op: daemon.OpFlows}, timeout)
		switch {
		case errors.Is(err, daemon.ErrNoDaemon):
			return dumpBecause("no daemon serves this policy")
		case err != nil:
			return dumpBecause("%v", err)
		case rep.Flows == nil:
			return dumpBecause("daemon pid %d keeps no flow table (an older cachectl)", rep.Daemon.PID)
		}
		return usableTable(rep.Daemon.PID, rep.Flows, netns, ports)
	}
}

// ownTable reads the table of the daemon this process is, without its
// control socket; trackErr says why there is none when tr is nil.
func ownTable(tr *audit.Tracker, trackErr error) tableFlows {
	return func(netns string, ports []audit.Port) ([]audit.Flow, audit.FlowSource) {
		if tr == nil {
			if trackErr != nil {
				return dumpBecause("the daemon keeps no flow table: %v", trackErr)
			}
			return dumpBecause("the daemon keeps no flow table")
		}
		ft, err := daemon.TrackedFlows(tr)
		if err != nil {
			return dumpBecause("%v", err)
		}
		return usableTable(os.Getpid(), ft, netns, ports)
	}
}

// usableTable hands out daemon pid's table ft when it is in sync and
// follows the audited namespace and ports.
func usableTable(pid int, ft *daemon.FlowsReport, netns string, ports []audit.Port) ([]audit.Flow, audit.FlowSource) {
	if !ft.InSync {
		return dumpBecause("daemon pid %d: its table is out of sync: %s", pid, ft.Reason)
	}
	ns, err := namespaceInode(netns)
	if err != nil {
		return dumpBecause("naming the audited network namespace: %v", err)
	}
	if ns != ft.NetNS {
		return dumpBecause("daemon pid %d tracks another network namespace", pid)
	}
	for _, p := range ports {
		if !slices.Contains(ft.Ports, p) {
			return dumpBecause("daemon pid %d does not track %s", pid, p)
		}
	}
	return ft.Flows, audit.DaemonSource(pid, ft.TableStatus)
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
