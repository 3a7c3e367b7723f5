package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

type bindOptions struct {
	policy string
	ifaces []string
	addrs  []string
	family string
	wait   time.Duration
	daemon daemon.Flags
	metricsOptions
}

func newBindCmd(a *app) *cobra.Command {
	var o bindOptions
	cmd := &cobra.Command{
		Use:   "bind --iface IFACE|--addr IP ... [--port N] [--policy FILE] [memcached flags]",
		Short: "Run the cache daemon on exactly the given local interfaces/addresses, admitting only the policy's peers",
		Long: `Resolve each --iface to its addresses, check every address against this
host's links over netlink, record the binding in the policy file, and run the
cache daemon in the foreground, listening on exactly those addresses.

--iface and --addr choose LOCAL addresses to listen on. Who may CONNECT is the
policy's allowlist: a fresh policy allows loopback peers only; let a host in
with 'cachectl allow ADDR --policy FILE'. The daemon closes connections from
other peers right after accept (counted as denied_connections in
'stats cachectl'), and reloads the allowlist on SIGHUP and whenever the
policy file changes.

Without --iface and --addr, the binding recorded in the policy is used.
Listening on every address takes an explicit --addr 0.0.0.0 (IPv4) and/or
--addr :: (IPv6); each serves its own family only, as memcached's -l does.
The policy's daemon: section supplies -m, -c, -t and -I, and bind.port
supplies -p, when those flags are not given. SIGINT/SIGTERM stop it cleanly.

--metrics-listen ADDR:PORT serves Prometheus metrics: the daemon's counters,
the allowlist, the firewall (in sync, refused packets per family) and the
verdict of a conntrack audit run every --audit-interval.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBind(a, cmd.Flags(), &o) },
	}
	fs := cmd.Flags()
	addPolicyFlag(a, cmd, &o.policy)
	fs.StringArrayVar(&o.ifaces, "iface", nil, "listen on this interface's addresses (repeatable)")
	fs.StringArrayVar(&o.addrs, "addr", nil, "listen on this LOCAL address (repeatable); fe80:: addresses need %IFACE")
	fs.StringVar(&o.family, "family", "any", "address family: any, 4 or 6")
	fs.DurationVar(&o.wait, "wait", 0, "wait this long for the interfaces/addresses to appear and come up (e.g. 30s)")
	addMetricsFlags(cmd, &o.metricsOptions, true)
	// -p/--port is the daemon's own flag, shared rather than declared twice.
	o.daemon.Register(fs, daemon.NoListen)
	return cmd
}

func runBind(a *app, fs *pflag.FlagSet, o *bindOptions) error {
	cfg, req, err := prepareBind(fs, o)
	if err != nil {
		return err
	}
	aps, err := resolveBinding(a, req, o.wait)
	if errors.Is(err, errStoppedWaiting) {
		fmt.Fprintln(a.stderr, "cachectl bind: stopped by a signal while waiting; nothing was bound")
		return nil
	}
	if err != nil {
		return err
	}
	for _, ap := range aps {
		if ap.Addr().IsUnspecified() {
			// The wildcard serves its own family only, as memcached's does.
			fmt.Fprintf(a.stderr, "cachectl bind: listening on every local %s address (%s) as asked; the policy records only specific addresses, so pass --addr %s again next time\n",
				familyName(ap.Addr()), ap.Addr(), ap.Addr())
		}
	}
	// Recorded only now that the host has been shown to meet the request.
	p, err := policy.Edit(o.policy, func(p *policy.Policy) error { return recordBinding(p, req, uint16(o.daemon.UDPPort)) })
	if err != nil {
		return policyFileError(err)
	}
	cfg.Server.Listen = listenArgs(aps)
	g, closeGuard, err := prepareGuard(a, o, p, &cfg)
	if err != nil {
		return err
	}
	defer closeGuard()
	return daemonError(daemon.Run(cfg, daemon.Options{
		Stderr:     a.stderr,
		BeforeDrop: g.Subscribe,
		Setup: func(ctx context.Context, srv *cached.Server, log *slog.Logger) error {
			g.Start(ctx, srv, log, p)
			announcePeers(a.stderr, o.policy, p, srv.Addrs())
			tr, trackErr := g.Tracker()
			return a.startBindMetrics(ctx, o.metricsOptions, o.policy, srv, log, tr, trackErr)
		},
	}))
}

// prepareBind checks every flag and the policy file before the host is
// looked at, and merges the policy's defaults into the daemon's settings.
func prepareBind(fs *pflag.FlagSet, o *bindOptions) (daemon.Config, netinfo.Request, error) {
	var req netinfo.Request
	fam, err := netinfo.ParseFamily(o.family)
	if err != nil {
		return daemon.Config{}, req, usageErrorf("--family: %v", err)
	}
	if o.wait < 0 {
		return daemon.Config{}, req, usageErrorf("--wait %s: give a positive duration such as 30s", o.wait)
	}
	current, _, err := policy.LoadOrDefault(o.policy)
	if err != nil {
		return daemon.Config{}, req, policyFileError(err)
	}
	applyPolicyDefaults(fs, &o.daemon, current)
	if o.daemon.Port < 1 || o.daemon.Port > 65535 {
		return daemon.Config{}, req, usageErrorf("-p %d: bind needs a TCP port in 1-65535", o.daemon.Port)
	}
	cfg, err := o.daemon.Config()
	if err != nil {
		return cfg, req, daemonError(err)
	}
	return cfg, bindRequest(o.ifaces, o.addrs, fam, uint16(o.daemon.Port), current.Bind), nil
}

// applyPolicyDefaults lets the policy's daemon: section and bind.port stand
// in for the flags the operator did not give; given flags always win.
func applyPolicyDefaults(fs *pflag.FlagSet, f *daemon.Flags, p *policy.Policy) {
	if !fs.Changed("memory-limit") {
		f.MemoryLimit = strconv.Itoa(p.Daemon.MemoryLimitMB)
	}
	if !fs.Changed("conn-limit") {
		f.MaxConns = p.Daemon.MaxConnections
	}
	if !fs.Changed("threads") {
		f.Threads = p.Daemon.Threads
	}
	if !fs.Changed("max-item-size") {
		f.MaxItemSize = p.Daemon.MaxItemSize.String()
	}
	if !fs.Changed("port") && p.Bind.Port != 0 {
		f.Port = int(p.Bind.Port)
	}
	if !fs.Changed("udp-port") {
		f.UDPPort = int(p.Bind.UDPPort)
	}
}

// bindRequest is what to listen on: the flags, or, when they name nothing,
// the binding the policy recorded last time.
func bindRequest(ifaces, addrs []string, fam netinfo.Family, port uint16, recorded policy.Bind) netinfo.Request {
	r := netinfo.Request{Interfaces: ifaces, Addrs: addrs, Family: fam, Port: port}
	if len(ifaces) == 0 && len(addrs) == 0 {
		r.Interfaces = recorded.Interfaces
		for _, a := range recorded.Addresses {
			r.Addrs = append(r.Addrs, a.String())
		}
	}
	return r
}

// recordBinding writes the request into the policy's bind: section, or
// returns policy.ErrUnchanged so an unchanged file is not rewritten. The
// wildcards are not recorded: the policy lists addresses explicitly, and
// listening everywhere must stay a choice made on the command line.
func recordBinding(p *policy.Policy, r netinfo.Request, udpPort uint16) error {
	// The UDP port is recorded too: the firewall and the audit cover it.
	b := policy.Bind{Port: r.Port, UDPPort: udpPort}
	seenIf := map[string]bool{}
	for _, name := range r.Interfaces {
		if !seenIf[name] {
			seenIf[name] = true
			b.Interfaces = append(b.Interfaces, name)
		}
	}
	seen := map[netip.Addr]bool{}
	for _, raw := range r.Addrs {
		a, err := netinfo.ParseAddr(raw)
		if err != nil {
			return usageError(err) // Resolve has already accepted it; kept for safety
		}
		if a.IsUnspecified() || seen[a] {
			continue
		}
		seen[a] = true
		b.Addresses = append(b.Addresses, a)
	}
	if sameBind(p.Bind, b) {
		return policy.ErrUnchanged
	}
	p.Bind = b
	return nil
}

func sameBind(x, y policy.Bind) bool {
	if x.Port != y.Port || x.UDPPort != y.UDPPort || len(x.Interfaces) != len(y.Interfaces) || len(x.Addresses) != len(y.Addresses) {
		return false
	}
	for i := range x.Interfaces {
		if x.Interfaces[i] != y.Interfaces[i] {
			return false
		}
	}
	for i := range x.Addresses {
		if x.Addresses[i] != y.Addresses[i] {
			return false
		}
	}
	return true
}

// resolveBinding checks the request against this host's links now, or,
// with --wait, until they meet it. SIGINT/SIGTERM end the wait.
func resolveBinding(a *app, req netinfo.Request, wait time.Duration) ([]netip.AddrPort, error) {
	if wait == 0 {
		snap, err := netinfo.Gather()
		if err != nil {
			return nil, fmt.Errorf("reading this host's interfaces over netlink: %w", err)
		}
		aps, err := netinfo.Resolve(snap, req)
		return aps, listenRefusal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Printed once signals are caught, so a stop after this line is clean.
	fmt.Fprintf(a.stderr, "cachectl bind: waiting up to %s for the listen addresses to be ready\n", wait)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	aps, err := netinfo.Wait(ctx, req, netinfo.Current())
	if err != nil && errors.Is(err, context.Canceled) {
		return nil, errStoppedWaiting
	}
	return aps, listenRefusal(err)
}

// errStoppedWaiting is SIGINT/SIGTERM during --wait: a clean stop, not a refusal.
var errStoppedWaiting = errors.New("stopped while waiting")

// listenRefusal gives every reason netinfo has for not listening exit code 2
// (nothing listens, nothing is written), keeping netinfo's message whole: it
// already says what to do. Only failures to read the host's state stay 1.
func listenRefusal(err error) error {
	if err == nil {
		return nil
	}
	var (
		down *netinfo.InterfaceDownError
		tent *netinfo.TentativeError
		wait *netinfo.WaitError
	)
	if netinfo.IsBadRequest(err) || errors.As(err, &down) || errors.As(err, &tent) || errors.As(err, &wait) {
		return usageErrorf("refusing to listen (nothing is listening and the policy file is unchanged):\n  %w", err)
	}
	return err
}

// listenArgs renders resolved addresses as the daemon's -l values, with
// link-local zones kept so the kernel binds the right link.
func listenArgs(aps []netip.AddrPort) []string {
	out := make([]string, len(aps))
	for i, ap := range aps {
		out[i] = net.JoinHostPort(ap.Addr().String(), strconv.Itoa(int(ap.Port())))
	}
	return out
}
