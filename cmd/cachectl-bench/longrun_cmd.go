package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type longrunOpts struct {
	cfg      longrunConfig
	quick    bool
	jsonPath string
}

// longrunReport is both scenarios on both servers.
type longrunReport struct {
	Machine machine        `json:"machine"`
	Shift   []*shiftResult `json:"size_shift"`
	Churn   []*churnResult `json:"ttl_churn"`
}

func newLongrunCmd() *cobra.Command {
	o := &longrunOpts{}
	cmd := &cobra.Command{
		Use:   "longrun [flags]",
		Short: "Compare memcached's and cachectl's memory management over time",
		Long: `Two scenarios, each on a fresh memcached and then a fresh 'cachectl serve'
with the same -m, -t and default -o (segmented LRU, crawler, slab_automove=1):

  size shift  fill the cache past full with small values, then run a
              read-through workload (multi-get 8 Zipf-chosen keys, set each
              miss) over large values for --shift; prints the hit ratio over
              the whole shift and over its second half, when the page mover
              has had its 30 s window, and the pages each chunk size holds.
  TTL churn   half sets with a TTL of 1-3 s, half gets, for --churn; samples
              curr_items and total_malloced every --sample: both stay
              bounded when expired items are reclaimed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	c := &o.cfg
	f.StringVar(&c.Servers.Memcached, "memcached", "memcached", "memcached binary")
	f.StringVar(&c.Servers.Cachectl, "cachectl", "bin/cachectl", "cachectl binary (make build)")
	f.IntVar(&c.Servers.Threads, "threads", 2, "-t for both servers")
	f.IntVar(&c.MemoryMB, "memory", 64, "-m for both servers in the size shift")
	f.IntVar(&c.ChurnMemoryMB, "churn-memory", 256, "-m for both servers in the TTL churn (above what the live items need)")
	f.IntVar(&c.Conns, "conns", 4, "client connections")
	f.DurationVar(&c.Shift, "shift", 90*time.Second, "read-through traffic after the size shift, per server")
	f.DurationVar(&c.Churn, "churn", 30*time.Second, "TTL churn per server")
	f.DurationVar(&c.Sample, "sample", 3*time.Second, "churn sampling period")
	f.Uint64Var(&c.Seed, "seed", 1, "seed for keys")
	f.IntVar(&c.SmallSize, "small", 100, "small value bytes (the fill, and churn values)")
	f.IntVar(&c.LargeSize, "large", 3000, "large value bytes after the shift")
	f.IntVar(&c.LargeKeys, "large-keys", 40_000, "large keys (their values exceed -m)")
	f.IntVar(&c.ChurnKeys, "churn-keys", 5_000_000, "keys of the churn (most are set once: memory stays bounded only by reclaiming the expired)")
	f.BoolVar(&o.quick, "quick", false, "--shift 45s --churn 15s")
	f.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file (- = stdout)")
	return cmd
}

func (o *longrunOpts) run(cmd *cobra.Command) error {
	c := &o.cfg
	if o.quick {
		if !cmd.Flags().Changed("shift") {
			c.Shift = 45 * time.Second
		}
		if !cmd.Flags().Changed("churn") {
			c.Churn = 15 * time.Second
		}
	}
	if c.MemoryMB < 8 || c.ChurnMemoryMB < 8 || c.Conns < 1 || c.LargeKeys < 2 || c.ChurnKeys < 1 || c.Sample <= 0 {
		return errors.New("--memory and --churn-memory must be at least 8, and --conns, --large-keys, --churn-keys and --sample positive")
	}
	var err error
	for _, p := range []*string{&c.Servers.Memcached, &c.Servers.Cachectl} {
		if *p, err = exec.LookPath(*p); err != nil {
			return fmt.Errorf("server binary: %w (install memcached; run make build for bin/cachectl)", err)
		}
	}
	progress := cmd.ErrOrStderr()
	rep := &longrunReport{Machine: describeMachine(c.Servers.Memcached)}
	ctx := cmd.Context()
	for _, kind := range []serverKind{memcached, cachectl} {
		fmt.Fprintf(progress, "size shift on %s (%s)\n", kind, c.Shift)
		r, err := runShift(ctx, c, kind)
		if err != nil {
			return err
		}
		rep.Shift = append(rep.Shift, r)
	}
	for _, kind := range []serverKind{memcached, cachectl} {
		fmt.Fprintf(progress, "TTL churn on %s (%s)\n", kind, c.Churn)
		r, err := runChurn(ctx, c, kind)
		if err != nil {
			return err
		}
		rep.Churn = append(rep.Churn, r)
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	rep.writeText(cmd.OutOrStdout(), c)
	if o.jsonPath != "" {
		return writeJSON(cmd.OutOrStdout(), o.jsonPath, rep)
	}
	return nil
}

func (r *longrunReport) writeText(w io.Writer, c *longrunConfig) {
	fmt.Fprintf(w, "size shift: -m %d, %d B values past full, then read-through of %d x %d B keys (Zipf 1.01) for %s\n",
		c.MemoryMB, c.SmallSize, c.LargeKeys, c.LargeSize, c.Shift)
	fmt.Fprintf(w, "%-10s %10s %12s %12s  %s\n", "server", "hit ratio", "2nd half", "slabs_moved", "pages per chunk size")
	for _, s := range r.Shift {
		var pages []string
		for _, size := range sortedSizes(s.PagesPerClass) {
			pages = append(pages, fmt.Sprintf("%s:%d", size, s.PagesPerClass[size]))
		}
		fmt.Fprintf(w, "%-10s %10.3f %12.3f %12d  %s\n", s.Server, s.HitRatio, s.HitRatioLate, s.SlabsMoved, strings.Join(pages, " "))
	}
	fmt.Fprintf(w, "\nTTL churn: -m %d, 50/50 get/set, TTL 1-3 s, %d keys, %d conns, %s\n", c.ChurnMemoryMB, c.ChurnKeys, c.Conns, c.Churn)
	for _, ch := range r.Churn {
		fmt.Fprintf(w, "%s: %.0f ops/s\n", ch.Server, ch.OpsPerSec)
		fmt.Fprintf(w, "  %6s %9s %10s %14s %10s %10s %10s\n", "s", "ops/s", "curr_items", "total_malloced", "evictions", "reclaimed", "crawler")
		for _, s := range ch.Samples {
			fmt.Fprintf(w, "  %6.1f %9.0f %10d %14d %10d %10d %10d\n", s.Seconds, s.OpsPerSec, s.CurrItems, s.TotalMalloced, s.Evictions, s.Reclaimed, s.CrawlerRecl)
		}
	}
}
