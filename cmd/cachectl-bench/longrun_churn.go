package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// runChurn runs short-TTL churn — half sets with a TTL of 1 to 3 seconds,
// half gets, over ChurnKeys keys — and samples the memory the server
// holds while it runs: expired items must be reused or reclaimed, so
// pages and curr_items stay bounded.
func runChurn(ctx context.Context, cfg *longrunConfig, kind serverKind) (*churnResult, error) {
	srv, err := startServer(cfg.Servers.spec(kind, cfg.ChurnMemoryMB))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	mon, err := dialLR(srv.addr)
	if err != nil {
		return nil, err
	}
	defer mon.Close()
	var ops atomic.Int64
	res := &churnResult{Server: kind}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- runClients(ctx, srv.addr, cfg.Conns, cfg.Churn, cfg.Seed, func(c *lrClient, rng *rand.Rand) func() error {
			keys, hit := make([]string, 0, 16), make([]bool, 16)
			return func() error {
				keys = keys[:0]
				for i := 0; i < 16; i++ {
					k := "C" + strconv.Itoa(rng.IntN(cfg.ChurnKeys))
					if rng.IntN(2) == 0 {
						c.appendSet(k, cfg.SmallSize, 1+rng.IntN(3))
					} else {
						keys = append(keys, k)
					}
				}
				ops.Add(16)
				if len(keys) == 0 {
					return c.send()
				}
				return c.multiGet(keys, hit[:len(keys)])
			}
		})
	}()
	tick := time.NewTicker(cfg.Sample)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return nil, fmt.Errorf("%s: churn: %w", kind, err)
			}
			res.OpsPerSec = float64(ops.Load()) / time.Since(start).Seconds()
			return res, nil
		case <-tick.C:
			if err := res.sample(mon, start, ops.Load()); err != nil {
				return nil, err
			}
		}
	}
}

// sample records the server's memory and the client's rate since the
// previous sample, from ops, the commands sent so far.
func (r *churnResult) sample(c *lrClient, start time.Time, ops int64) error {
	st, err := c.stats("")
	if err != nil {
		return err
	}
	slabs, err := c.stats("slabs")
	if err != nil {
		return err
	}
	now := time.Since(start).Seconds()
	var prevOps int64
	var prevSec float64
	if n := len(r.Samples); n > 0 {
		prevOps, prevSec = r.Samples[n-1].Ops, r.Samples[n-1].Seconds
	}
	r.Samples = append(r.Samples, churnSample{
		Seconds:       now,
		Ops:           ops,
		OpsPerSec:     float64(ops-prevOps) / max(now-prevSec, 1e-9),
		CurrItems:     statInt(st, "curr_items"),
		TotalMalloced: statInt(slabs, "total_malloced"),
		Evictions:     statInt(st, "evictions"),
		Reclaimed:     statInt(st, "reclaimed"),
		CrawlerRecl:   statInt(st, "crawler_reclaimed"),
	})
	return nil
}
