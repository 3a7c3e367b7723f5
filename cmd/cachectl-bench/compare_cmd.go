package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type compareOpts struct {
	cfg        compareConfig
	quick      bool
	only       string
	memory     string
	hold       time.Duration
	memcaslap  string
	noCaslap   bool
	jsonPath   string
	timeLimit  time.Duration
	skipMemory bool
	manyConns  int
	fills      string
	fillOps    int64
}

func newCompareCmd() *cobra.Command {
	o := &compareOpts{}
	cmd := &cobra.Command{
		Use:   "compare [flags]",
		Short: "Run workloads W1-W10 on cachectl and memcached in alternating pairs",
		Long: `For each workload W1-W10, run at least --pairs ABBA-alternating pairs: a fresh
memcached and a fresh 'cachectl serve' per pair, same -m and -t, each on a
free loopback port; preload and warm up both, then measure them with the
response-checking client in alternating --turn turns until each has run
--measure, so both see the same spells of a busy box. Then each workload
runs again with both servers paced at --latency-load times memcached's
throughput, so their latencies are
compared at the same offered load. Server CPU comes from utime+stime in procfs,
RSS from VmRSS. Then --many-conns clients, each sending a get about once a
second, stay connected beside a W1 load (same -c for both servers): the
servers' RSS and W1's p99 are compared. Prints each workload's median ratios
cachectl/memcached, the memory per item after bulk loads (with cachectl's GC
pauses from GODEBUG=gctrace=1), the items each holds at equal -m after
filling it with more keys than fit, with the Zipf hit ratio of a cache-aside
client after the fill, and memcaslap's second opinion. Exits 1 if any reply
was wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	c := &o.cfg
	f.StringVar(&c.Memcached, "memcached", "memcached", "memcached binary")
	f.StringVar(&c.Cachectl, "cachectl", "bin/cachectl", "cachectl binary (make build)")
	f.IntVar(&c.Threads, "threads", 2, "-t for both servers")
	f.IntVar(&c.Pairs, "pairs", 5, "ABBA pairs per workload (>= 1; 5+ for a result)")
	f.DurationVar(&c.Warmup, "warmup", 2*time.Second, "warm-up run before each measurement")
	f.DurationVar(&c.Measure, "measure", 8*time.Second, "measured run per server of a pair (in --turn turns)")
	f.DurationVar(&c.Turn, "turn", time.Second, "the two servers of a pair are measured in alternating turns of this length")
	f.Int64Var(&c.MaxOps, "ops", 50_000_000, "op cap per run")
	f.Uint64Var(&c.Seed, "seed", 1, "seed for keys and values")
	f.IntVar(&c.LatencyPairs, "latency-pairs", 0, "ABBA pairs for the paced runs (0 = --pairs)")
	f.Float64Var(&c.LatencyLoad, "latency-load", 0.7, "also compare latency with both servers paced at this fraction of memcached's throughput (0 = skip)")
	f.BoolVar(&o.quick, "quick", false, "short runs (warm-up 0.5s, 2s measured, 2s hold): 11 to 15 minutes on 2 vCPUs")
	f.StringVar(&o.only, "workloads", "", "comma list of workloads to run (default all: W1..W10; none = only the memory loads and fills)")
	f.StringVar(&o.memory, "memory", "1000000:1024,5000000:2048", "memory loads ITEMS:MB, comma separated")
	f.BoolVar(&o.skipMemory, "no-memory", false, "skip the memory loads")
	f.StringVar(&o.fills, "fills", "F1,F2", "fills at equal -m to run (F1: 4M keys of 10-100 B, F2: 2M keys of 50-1000 B, both -m 256; \"\" = none)")
	f.Int64Var(&o.fillOps, "fill-ops", 2_000_000, "cache-aside Zipf reads after each fill, for the warm-up and again for the measurement")
	f.DurationVar(&o.hold, "hold", 5*time.Second, "90/10 traffic while the loaded items are held (GC pauses)")
	f.StringVar(&o.memcaslap, "memcaslap", "memcaslap", "memcaslap binary for the second opinion")
	f.BoolVar(&o.noCaslap, "no-memcaslap", false, "skip the memcaslap second opinion")
	f.StringVar(&o.jsonPath, "json", "", "also write every trial as JSON to this file (- = stdout)")
	f.IntVar(&o.manyConns, "many-conns", 10000, "idle clients (a get a second each) beside W1 in the many-connections run (0 = skip)")
	f.DurationVar(&o.timeLimit, "time-limit", 90*time.Minute, "bound on the whole comparison")
	return cmd
}

func (o *compareOpts) run(cmd *cobra.Command) error {
	c := &o.cfg
	if o.quick {
		fl := cmd.Flags()
		for name, d := range map[string]*time.Duration{"warmup": &c.Warmup, "measure": &c.Measure, "hold": &o.hold} {
			if !fl.Changed(name) {
				*d = map[string]time.Duration{"warmup": 500 * time.Millisecond, "measure": 2 * time.Second, "hold": 2 * time.Second}[name]
			}
		}
		if !fl.Changed("fill-ops") {
			o.fillOps = 500_000
		}
	}
	if c.Pairs < 1 || c.Threads < 1 || c.Measure <= 0 || c.Turn <= 0 {
		return errors.New("--pairs, --threads, --measure and --turn must be positive")
	}
	if c.LatencyPairs < 0 {
		return fmt.Errorf("--latency-pairs %d: want 0 (as many as --pairs) or more", c.LatencyPairs)
	}
	if c.LatencyLoad < 0 || c.LatencyLoad > 1 {
		return fmt.Errorf("--latency-load %g: want a fraction 0..1 of memcached's throughput (0 skips the paced runs)", c.LatencyLoad)
	}
	ws, err := selectWorkloads(workloads(), o.only)
	if err != nil {
		return err
	}
	mem, err := parseMemoryLoads(o.memory)
	if err != nil {
		return err
	}
	fills, err := selectFills(o.fills)
	if err != nil {
		return err
	}
	if o.fillOps < 1 {
		return fmt.Errorf("--fill-ops %d: want at least 1", o.fillOps)
	}
	for _, p := range []*string{&c.Memcached, &c.Cachectl} {
		if *p, err = exec.LookPath(*p); err != nil {
			return fmt.Errorf("server binary: %w (install memcached; run make build for bin/cachectl)", err)
		}
	}
	c.Progress = cmd.ErrOrStderr()
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeLimit)
	defer cancel()
	rep := &report{Machine: describeMachine(c.Memcached), Pairs: c.Pairs, LatencyPairs: cmp.Or(c.LatencyPairs, c.Pairs), Warmup: c.Warmup, Measure: c.Measure, Turn: c.Turn}
	for _, w := range ws {
		fmt.Fprintf(c.Progress, "%s: %s\n", w.ID, w.Desc)
		res, err := runWorkload(ctx, c, w)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%s stopped: %w (interrupted, or --time-limit %s reached)", w.ID, context.Cause(ctx), o.timeLimit)
			}
			rep.Failures = append(rep.Failures, err.Error())
			if ctx.Err() != nil {
				break
			}
			continue
		}
		rep.Workloads = append(rep.Workloads, res)
	}
	if o.manyConns > 0 && ctx.Err() == nil {
		fmt.Fprintf(c.Progress, "%d connections beside W1\n", o.manyConns)
		var err error
		if rep.ManyConns, err = runManyConns(ctx, c, o.manyConns); err != nil {
			rep.Failures = append(rep.Failures, err.Error())
		}
	}
	if !o.skipMemory && ctx.Err() == nil {
		o.runMemoryLoads(ctx, rep, mem)
	}
	for _, f := range fills {
		if ctx.Err() != nil {
			break
		}
		r, err := runFill(ctx, c, f, o.fillOps)
		if err != nil {
			rep.Failures = append(rep.Failures, err.Error())
			continue
		}
		rep.Fills = append(rep.Fills, r)
	}
	if !o.noCaslap && ctx.Err() == nil {
		path, err := exec.LookPath(o.memcaslap)
		if err == nil {
			fmt.Fprintln(c.Progress, "memcaslap second opinion")
			rep.Memcaslap, err = runMemcaslap(ctx, c, path, c.Measure)
		}
		if err != nil {
			rep.Failures = append(rep.Failures, err.Error())
		}
	}
	rep.writeText(cmd.OutOrStdout())
	if o.jsonPath != "" {
		if err := writeJSON(cmd.OutOrStdout(), o.jsonPath, rep); err != nil {
			return err
		}
	}
	return rep.verdict()
}

func (o *compareOpts) runMemoryLoads(ctx context.Context, rep *report, loads [][2]int) {
	c := &o.cfg
	for _, l := range loads {
		for _, kind := range []serverKind{memcached, cachectl} {
			fmt.Fprintf(c.Progress, "memory: %d items into %s -m %d\n", l[0], kind, l[1])
			r, err := runMemory(ctx, c, kind, l[0], l[1], o.hold)
			if err != nil {
				rep.Failures = append(rep.Failures, fmt.Sprintf("memory %d items, %s: %v", l[0], kind, err))
				continue
			}
			rep.Memory = append(rep.Memory, r)
		}
	}
}

// verdict fails the command if any reply was wrong or a step failed.
func (r *report) verdict() error {
	var bad int64
	for _, w := range r.Workloads {
		bad += w.Errors
	}
	if r.ManyConns != nil {
		bad += r.ManyConns.Errors
	}
	switch {
	case bad > 0:
		return fmt.Errorf("%d wrong replies (see above)", bad)
	case len(r.Failures) > 0:
		return fmt.Errorf("%d steps failed (see above)", len(r.Failures))
	}
	return nil
}

// parseMemoryLoads parses "ITEMS:MB,ITEMS:MB".
func parseMemoryLoads(s string) ([][2]int, error) {
	var out [][2]int
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err1 := strconv.Atoi(a)
		m, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || n < 1 || m < 1 {
			return nil, fmt.Errorf("--memory %q: want ITEMS:MB[,ITEMS:MB...], e.g. 1000000:1024", s)
		}
		out = append(out, [2]int{n, m})
	}
	return out, nil
}
