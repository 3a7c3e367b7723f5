package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/metrics"
	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/policy"
)

// metricsOptions are the daemon commands' Prometheus flags.
type metricsOptions struct {
	listen        string
	auditInterval time.Duration
}

// defaultAuditInterval is how often bind audits conntrack for the metrics:
// a full table dump, so not at every scrape.
const defaultAuditInterval = 60 * time.Second

// addMetricsFlags gives serve and bind --metrics-listen (and bind, which
// has a policy to audit against, --audit-interval). The flags are checked
// before the daemon binds anything.
func addMetricsFlags(cmd *cobra.Command, o *metricsOptions, withAudit bool) {
	cmd.Flags().StringVar(&o.listen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR:PORT/metrics (off by default)")
	if withAudit {
		cmd.Flags().DurationVar(&o.auditInterval, "audit-interval", defaultAuditInterval, "with --metrics-listen: audit conntrack this often for cachectl_audit_violations (0 = off)")
	}
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		return o.check(cmd.Flags().Changed("audit-interval"))
	}
}

func (o metricsOptions) check(intervalGiven bool) error {
	if o.auditInterval < 0 {
		return usageErrorf("--audit-interval %s: give a positive duration such as 60s, or 0 for no audit", o.auditInterval)
	}
	if o.listen == "" {
		if intervalGiven && o.auditInterval > 0 {
			return usageErrorf("--audit-interval reports through the metrics: give --metrics-listen ADDR:PORT too")
		}
		return nil
	}
	_, port, err := net.SplitHostPort(o.listen)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 1 || n > 65535 {
			err = fmt.Errorf("port %q is not 1-65535", port)
		}
	}
	if err != nil {
		return usageErrorf("--metrics-listen %q: want ADDR:PORT, e.g. 127.0.0.1:9150 or [::1]:9150: %v", o.listen, err)
	}
	return nil
}

// startServeMetrics serves the daemon's own counters: plain serve has no
// policy, so no allowlist, firewall or audit series.
func startServeMetrics(ctx context.Context, o metricsOptions, srv *cached.Server, log *slog.Logger) error {
	if o.listen == "" {
		return nil
	}
	return serveMetrics(ctx, o.listen, metrics.Sources{Daemon: metrics.ServerStats(srv), Version: cached.Version, Log: log}, log)
}

// startBindMetrics adds what the policy at path knows: the allowlist, the
// firewall as the kernel holds it, and the periodic audit's verdict.
// The periodic audit reads the daemon's own flow table (tr; trackErr
// says why there is none) the way `cachectl audit` would over the control
// socket.
func (a *app) startBindMetrics(ctx context.Context, o metricsOptions, path string, srv *cached.Server, log *slog.Logger, tr *audit.Tracker, trackErr error) error {
	if o.listen == "" {
		return nil
	}
	pv := &policyView{path: path}
	src := metrics.Sources{
		Daemon:  metrics.ServerStats(srv),
		Version: cached.Version,
		Log:     log,
		Allowlist: func() (metrics.Allowlist, bool) {
			p := pv.current()
			return metrics.Allowlist{Peers: len(p.Prefixes()), Loopback: p.LoopbackAllowed()}, true
		},
		Firewall: func(ctx context.Context) (metrics.FirewallState, error) {
			p := pv.current()
			var st firewall.Status
			err := a.withApplier("", func(ap firewall.Applier) error {
				var err error
				st, err = firewall.ReadStatus(ctx, ap, firewallSpec(p))
				return err
			})
			return metrics.FirewallState{Managed: p.Firewall.Managed, Status: st}, err
		},
	}
	if o.auditInterval > 0 {
		src.Audit = metrics.NewAuditor(func(ctx context.Context) (audit.Report, error) {
			// No daemon cross-check: the daemon is this process, and a
			// query over TCP would itself be a flow in the next audit.
			ar, err := loadAuditRules(auditOptions{policy: path})
			if err != nil {
				return audit.Report{}, err
			}
			q := ar.rules.Query(audit.FilterAuto, audit.Mark{}, "the periodic audit does not read the firewall")
			return a.auditFrom(ctx, "", ar.rules, q, ownTable(tr, trackErr))
		}, o.auditInterval, log)
		src.Audit.Start(ctx)
	}
	return serveMetrics(ctx, o.listen, src, log)
}

func serveMetrics(ctx context.Context, addr string, src metrics.Sources, log *slog.Logger) error {
	reg, err := metrics.Registry(metrics.NewCollector(src))
	if err != nil {
		return err
	}
	_, err = metrics.Serve(ctx, addr, reg, log)
	return err
}

// policyView is the policy file as the running daemon holds it: re-read
// only when the file changed, and a file that does not load leaves the
// last good policy in force, as the daemon's own reloader does.
type policyView struct {
	path string

	mu    sync.Mutex
	stamp fileStamp
	p     *policy.Policy
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (v *policyView) current() *policy.Policy {
	v.mu.Lock()
	defer v.mu.Unlock()
	fi, err := os.Stat(v.path)
	if err == nil && v.p != nil && (fileStamp{fi.ModTime(), fi.Size()}) == v.stamp {
		return v.p
	}
	p, lerr := policy.Load(v.path)
	switch {
	case lerr == nil && err == nil:
		v.p, v.stamp = p, fileStamp{fi.ModTime(), fi.Size()}
	case v.p == nil && errors.Is(lerr, os.ErrNotExist):
		v.p = policy.Default()
	case v.p == nil:
		v.p = policy.Default() // bind refused to start on a bad file; only a race gets here
	}
	return v.p
}
