package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netns"

	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/policy"
)

type auditOptions struct {
	policy  string
	netns   string
	json    bool
	watch   bool
	port    int
	daemon  string
	timeout time.Duration
	filter  string
}

// daemonAuto asks the audit to find the daemon from the policy's bind addresses.
const daemonAuto = "auto"

func newAuditCmd(a *app) *cobra.Command {
	var opts auditOptions
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Prove from conntrack that only permitted peers are connected to the cache",
		Long: `audit reads the kernel's connection tracking table and judges every peer
connected to the cache port against the policy: permitted (naming the policy
entry) or violation. Flows are matched by where they really end (the reply's
source), so port forwards and published container ports are audited too.
Every state counts: a peer in TIME_WAIT did reach the cache.

With --filter auto the audit first asks the daemon serving the policy
(cachectl bind) for the flow table it keeps from conntrack events: the kernel
walks nothing, and the answer includes every event queued before the question.
When no daemon answers, or its table is not in sync (it lost events and is
resynchronising), the audit reads a dump instead and the report says why.
A dump sends only the cache's flows: filtered by the reply's port where the
kernel can (Linux 5.8+), else by the conntrack mark that cachectl's firewall
sets on the cache port's flows; only when neither applies does the audit read
the whole table. Either way it is judged flow by flow and never held whole.
--filter tuple, mark or none force that dump.

It cross-checks with the daemon's own "stats conns" (--daemon) and says so when
conntrack is not tracking (no rule uses it) instead of reporting an empty table
as clean. --watch streams new and closed connections as they happen, one line
(or one JSON object) each, until interrupted.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.port < 0 || opts.port > 65535 {
				return usageErrorf("--port %d is not a port: give 1-65535, or 0 for the policy's port", opts.port)
			}
			if opts.timeout <= 0 {
				return usageErrorf("--timeout must be positive, got %s", opts.timeout)
			}
			filter, err := audit.ParseFilter(opts.filter)
			if err != nil {
				return usageErrorf("--%w", err)
			}
			ar, err := loadAuditRules(opts)
			if err != nil {
				return err
			}
			if opts.watch {
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
				defer stop()
				return watchAudit(ctx, a.stdout, opts, ar.rules)
			}
			return runAudit(cmd.Context(), a, opts, ar, filter)
		},
	}
	addPolicyFlag(a, cmd, &opts.policy)
	addNetnsFlag(a, cmd, &opts.netns)
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON (with --watch: one object per line)")
	cmd.Flags().BoolVar(&opts.watch, "watch", false, "stream connection events until SIGINT/SIGTERM")
	cmd.Flags().IntVar(&opts.port, "port", 0, "cache TCP port to audit (default: the policy's)")
	cmd.Flags().StringVar(&opts.daemon, "daemon", daemonAuto, "daemon ADDR:PORT to cross-check with 'stats conns'; 'auto' picks a bound address, '' skips")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 3*time.Second, "time limit for the daemon cross-check")
	cmd.Flags().StringVar(&opts.filter, "filter", string(audit.FilterAuto), "where the flows come from: auto (the daemon's event-tracked table, else the first dump filter that applies), or a dump filtered by tuple (port, Linux 5.8+), mark (cachectl's conntrack mark) or none (the whole table)")
	return cmd
}

// auditRules is what the command needs from the policy: the rules to
// judge by and the daemon to cross-check with.
type auditRules struct {
	rules      audit.Rules
	daemon     netip.AddrPort // zero: no cross-check
	skipDaemon error          // why the automatic cross-check is skipped
	policy     *policy.Policy // for the firewall's counters
}

// runAudit reads the table, judges it, prints the report and maps it to
// the exit code: 3 for a violation, 1 when the audit cannot vouch.
func runAudit(ctx context.Context, a *app, opts auditOptions, ar auditRules, filter audit.Filter) error {
	fw := a.readAuditFirewall(ctx, ar.policy, opts.netns)
	mark, noMark := fw.mark(ar.rules)
	rep, err := a.auditFlows(ctx, opts, ar.rules, ar.rules.Query(filter, mark, noMark))
	if err != nil {
		return err
	}
	fw.addBlocked(&rep)
	// The query comes after the dump so that its own connection is not in it.
	if ar.skipDaemon != nil {
		rep.DaemonUnreachable(ar.skipDaemon)
	}
	if ar.daemon.IsValid() {
		conns, err := audit.QueryConns(ctx, ar.daemon, opts.timeout)
		if err != nil {
			rep.DaemonUnreachable(err)
		} else {
			rep.CrossCheck(conns, ar.rules)
		}
	}
	if err := (printer{w: a.stdout, json: opts.json}).print(rep, rep.WriteText); err != nil {
		return fmt.Errorf("writing the audit report: %w", err)
	}
	switch {
	case rep.Violated():
		return &exitError{code: exitViolation, err: errSilent}
	case rep.Incomplete():
		return &exitError{code: exitFailure, err: errSilent}
	}
	return nil
}

// watchAudit prints one line or JSON object per event until ctx ends.
func watchAudit(ctx context.Context, w io.Writer, opts auditOptions, r audit.Rules) error {
	fd, done, err := namespaceFD(opts.netns)
	if err != nil {
		return usageErrorf("audit --watch: %w", err)
	}
	defer done()
	enc := json.NewEncoder(w)
	err = audit.Watch(ctx, fd, r, func(e audit.Event) error {
		if opts.json {
			return enc.Encode(e)
		}
		_, err := fmt.Fprintln(w, e.Text())
		return err
	})
	if err != nil {
		return fmt.Errorf("audit --watch: %w", err)
	}
	return nil
}

// namespaceFD opens the named network namespace for a netlink socket
// (0 and a no-op for the caller's own).
func namespaceFD(name string) (int, func(), error) {
	if name == "" {
		return 0, func() {}, nil
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return 0, nil, fmt.Errorf("network namespace %q: %w", name, err)
	}
	return int(h), func() { h.Close() }, nil
}

// daemonAddr picks the address to ask the daemon on: loopback when it is
// bound there, since a query to another bound address is itself a
// connection from this host that later audits would see.
func daemonAddr(opt string, bound []netip.Addr, port uint16) (netip.AddrPort, error) {
	switch opt {
	case "":
		return netip.AddrPort{}, nil
	case daemonAuto:
		if len(bound) == 0 {
			return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), nil
		}
		for _, b := range bound {
			if b.IsLoopback() {
				return netip.AddrPortFrom(b, port), nil
			}
		}
		return netip.AddrPortFrom(bound[0], port), nil
	}
	ap, err := netip.ParseAddrPort(opt)
	if err != nil {
		return netip.AddrPort{}, usageErrorf("--daemon %q: want ADDR:PORT (e.g. 127.0.0.1:11211 or [::1]:11211), 'auto' or '': %v", opt, err)
	}
	return ap, nil
}
