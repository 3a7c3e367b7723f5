package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type loadOpts struct {
	cfg     loadConfig
	size    string
	ttl     string
	mode    string
	preConn int
	json    bool
}

func newLoadCmd() *cobra.Command {
	o := &loadOpts{}
	cmd := &cobra.Command{
		Use:   "load --addr 127.0.0.1:PORT [flags]",
		Short: "Drive one memcached-protocol server and check every reply",
		Long: `Drive one server over the raw text protocol and check every reply: a GET hit
must return exactly a value some SET stored for that key (values carry their
key, version and TTL deadline in a header; length, flags and bytes derive
from them), replies must be well formed and in order. Any wrong reply is
counted, printed and makes the command exit 1.

--mode preload stores keys 0..keys-1 once with pipelined sets; --mode both
preloads, then runs. Every run is bounded by --duration and --ops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	c := &o.cfg
	f.StringVar(&c.Addr, "addr", "127.0.0.1:11211", "server address (loopback only)")
	f.IntVar(&c.Conns, "conns", 50, "connections")
	f.Float64Var(&c.GetRatio, "get", 0.9, "fraction of commands that are gets")
	f.StringVar(&o.size, "size", "100", "value size in bytes, N or MIN..MAX")
	f.IntVar(&c.Keys, "keys", 100_000, "key count (keys are key:0 .. key:N-1)")
	f.Float64Var(&c.Zipf, "zipf", 0, "Zipf exponent s > 1 for key choice (0 = uniform)")
	f.BoolVar(&c.Insert, "insert", false, "sets store new keys (key:KEYS upward), gets read the --keys most recently inserted: memcaslap's mix")
	f.IntVar(&c.Pipeline, "pipeline", 1, "commands per write (pipeline depth)")
	f.IntVar(&c.MultiGet, "mget", 1, "keys per get command")
	f.StringVar(&o.ttl, "ttl", "0", "exptime of sets in seconds, N or MIN..MAX (0 = none)")
	f.DurationVar(&c.Duration, "duration", 10*time.Second, "run time")
	f.Int64Var(&c.MaxOps, "ops", 50_000_000, "op cap (0 = duration only)")
	f.BoolVar(&c.StrictHits, "strict-hits", false, "count a miss as an error (use when nothing can be evicted or expire)")
	f.Uint64Var(&c.Seed, "seed", 1, "seed for key choice")
	f.Uint64Var(&c.ValueSeed, "value-seed", 1, "seed values derive from; must match the one the keys were stored with")
	f.DurationVar(&c.Timeout, "timeout", 10*time.Second, "bound on one batch's round trip")
	f.Float64Var(&c.Rate, "rate", 0, "pace at this many commands/s in all, latency from each scheduled send (0 = closed loop)")
	f.StringVar(&o.mode, "mode", "run", "run, preload, or both")
	f.IntVar(&o.preConn, "preload-conns", 4, "connections for --mode preload/both")
	f.BoolVar(&o.json, "json", false, "print the result as JSON")
	return cmd
}

func (o *loadOpts) run(cmd *cobra.Command) error {
	var err error
	c := &o.cfg
	if c.MinSize, c.MaxSize, err = parseRange("--size", o.size); err != nil {
		return err
	}
	if c.TTLMin, c.TTLMax, err = parseRange("--ttl", o.ttl); err != nil {
		return err
	}
	if err := requireLoopback(c.Addr); err != nil {
		return err
	}
	if o.mode != "run" && o.mode != "preload" && o.mode != "both" {
		return fmt.Errorf("--mode %q: want run, preload or both", o.mode)
	}
	ctx := cmd.Context()
	out := struct {
		Preload *preloadResult `json:"preload,omitempty"`
		Run     *loadResult    `json:"run,omitempty"`
	}{}
	if o.mode != "run" {
		out.Preload, err = preload(ctx, c.Addr, c.Keys, o.preConn, c.MinSize, c.MaxSize, c.ValueSeed, 30*time.Minute)
		if err != nil {
			return err
		}
		if !o.json {
			fmt.Fprintf(cmd.OutOrStdout(), "preload: %d keys in %s = %.0f sets/s\n", c.Keys, out.Preload.Elapsed.Round(time.Millisecond), out.Preload.SetsPerSec)
		}
	}
	if o.mode != "preload" {
		if out.Run, err = runLoad(ctx, *c); err != nil {
			return err
		}
	}
	if o.json {
		if err := writeJSON(cmd.OutOrStdout(), "-", out); err != nil {
			return err
		}
	} else if r := out.Run; r != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "%d cmds in %s: %.0f cmds/s, %.0f keys/s, hit rate %.4f, batch p50 %s p99 %s p99.9 %s max %s, errors %d%s\n",
			r.Ops, r.Elapsed.Round(time.Millisecond), r.OpsPerSec, r.KeysPerSec, r.HitRate,
			r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.P999.Round(time.Microsecond), r.Max.Round(time.Microsecond), r.Errors, r.refusedNote())
	}
	if out.Run != nil && out.Run.Errors > 0 {
		return fmt.Errorf("%d wrong replies; first: %s", out.Run.Errors, out.Run.FirstError)
	}
	return nil
}

// parseRange parses "N" or "MIN..MAX".
func parseRange(flag, s string) (int, int, error) {
	lo, hi, found := strings.Cut(s, "..")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := a, error(nil)
	if found {
		b, err2 = strconv.Atoi(strings.TrimSpace(hi))
	}
	if err1 != nil || err2 != nil || a < 0 || b < a {
		return 0, 0, fmt.Errorf("%s %q: want N or MIN..MAX with 0 <= MIN <= MAX", flag, s)
	}
	return a, b, nil
}

// requireLoopback refuses to load anything but this host's loopback.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want HOST:PORT: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("--addr %q: only loopback addresses (127.0.0.0/8, ::1) may be load-tested", addr)
	}
	return nil
}
