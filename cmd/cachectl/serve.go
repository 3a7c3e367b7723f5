package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/netinfo"
)

func newServeCmd(a *app) *cobra.Command {
	var f daemon.Flags
	var m metricsOptions
	var version bool
	cmd := &cobra.Command{
		Use:   "serve [memcached flags]",
		Short: "Run the memcached-compatible cache daemon in the foreground",
		Long: `Run the cache daemon in the foreground. It takes memcached's own flags, so
existing memcached command lines carry over:

  cachectl serve -l 127.0.0.1 -p 11211 -m 64 -c 1024

-l/--listen names LOCAL addresses of this host to listen on. It does not
restrict who may connect: use 'cachectl allow ADDR' and 'cachectl bind' for
that. Each -l address is checked against this host's links before binding:
an address this host does not have is refused (exit 2) with an explanation.
Without a policy, serve behaves like memcached and admits every peer.
SIGINT/SIGTERM stop accepting, let in-flight replies finish, and exit 0.
--metrics-listen ADDR:PORT serves the daemon's counters to Prometheus.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if version {
				// memcached's -V, which scripts and client test suites
				// run to learn what the binary speaks.
				fmt.Fprintln(a.stdout, "memcached "+cached.ProtocolVersion)
				return nil
			}
			cfg, err := f.Config()
			if err != nil {
				return daemonError(err)
			}
			if err := checkListenFlags(cfg.Server.Listen, cfg.Server.Port, netinfo.Gather, lookupHost); err != nil {
				return err
			}
			return daemonError(daemon.Run(cfg, daemon.Options{Stderr: a.stderr,
				Setup: func(ctx context.Context, srv *cached.Server, log *slog.Logger) error {
					return startServeMetrics(ctx, m, srv, log)
				}}))
		},
	}
	// memcached's -h is help; keep cobra's --help and free nothing else.
	f.Register(cmd.Flags(), daemon.AllFlags)
	cmd.Flags().BoolVarP(&version, "version", "V", false, "print the memcached version this daemon speaks (memcached "+cached.ProtocolVersion+") and exit")
	addMetricsFlags(cmd, &m, false)
	return cmd
}
