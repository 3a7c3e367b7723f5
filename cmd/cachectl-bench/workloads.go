package main

import (
	"fmt"
	"strings"
)

// workload is one row of the side-by-side comparison with memcached.
type workload struct {
	ID       string
	Desc     string
	MemoryMB int // -m for both servers
	Preload  int // keys stored before the run (0..Preload-1)
	Load     loadConfig
	PerKey   bool // throughput and CPU are per key (multi-get), not per command
}

// workloads are the comparison's W1-W10, from light gets to short-TTL churn
// and a few connections. Misses are errors (StrictHits) wherever
// nothing can be evicted or expire: every key was preloaded and fits.
func workloads() []workload {
	base := loadConfig{Conns: 50, GetRatio: 0.9, MinSize: 100, MaxSize: 100, Keys: 100_000,
		Pipeline: 1, MultiGet: 1, StrictHits: true}
	w := func(id, desc string, mem, pre int, edit func(*loadConfig)) workload {
		c := base
		edit(&c)
		return workload{ID: id, Desc: desc, MemoryMB: mem, Preload: pre, Load: c}
	}
	ws := []workload{
		w("W1", "90/10 get/set, 100 B, 100k keys, 50 conns", 1024, 100_000, func(*loadConfig) {}),
		w("W2", "90/10 get/set, 100 B, 100k keys, 200 conns", 1024, 100_000, func(c *loadConfig) { c.Conns = 200 }),
		w("W3", "90/10, Zipf s=1.01 over 1M keys, 50 conns", 1024, 1_000_000, func(c *loadConfig) {
			c.Keys, c.Zipf = 1_000_000, 1.01
		}),
		w("W4", "gets pipelined 16 deep, 100 B, 50 conns", 1024, 100_000, func(c *loadConfig) {
			c.GetRatio, c.Pipeline = 1, 16
		}),
		w("W5", "50-key multi-gets, 100 B, 10 conns", 1024, 100_000, func(c *loadConfig) {
			c.GetRatio, c.MultiGet, c.Conns = 1, 50, 10
		}),
		w("W6", "set-only 1 KB into a full -m 64 cache, 1M keys", 64, 0, func(c *loadConfig) {
			c.GetRatio, c.MinSize, c.MaxSize, c.Keys, c.StrictHits = 0, 1024, 1024, 1_000_000, false
		}),
		w("W7", "90/10, sizes 64 B-16 KB, 20k keys, 50 conns", 1024, 20_000, func(c *loadConfig) {
			c.MinSize, c.MaxSize, c.Keys, c.StrictHits = 64, 16384, 20_000, false
		}),
		w("W8", "TTL churn: 50/50, TTL 1-3 s, 100k keys, 50 conns", 1024, 0, func(c *loadConfig) {
			c.GetRatio, c.TTLMin, c.TTLMax, c.StrictHits = 0.5, 1, 3, false
		}),
		// W1 from a small client pool: each request waits for the last
		// reply, so the servers' wake-up path, not their throughput, sets
		// the pace. A single application process often talks to its cache
		// this way.
		w("W9", "90/10 get/set, 100 B, 100k keys, 4 conns", 1024, 100_000, func(c *loadConfig) { c.Conns = 4 }),
		// memcaslap's mix with our value checks: every set inserts a new
		// key, so the cache and its index grow and new items stream
		// through HOT; memcaslap was the widest gap (0.83-0.85).
		w("W10", "90/10, sets insert new keys, gets read the last 100k, 50 conns", 1024, 100_000, func(c *loadConfig) {
			c.Insert, c.StrictHits = true, false
		}),
	}
	ws[4].PerKey = true
	return ws
}

// selectWorkloads keeps the workloads named in a comma list ("" = all,
// "none" = none, to run only the memory loads and fills).
func selectWorkloads(all []workload, only string) ([]workload, error) {
	switch only {
	case "":
		return all, nil
	case "none":
		return nil, nil
	}
	var out []workload
	for id := range strings.SplitSeq(only, ",") {
		id = strings.ToUpper(strings.TrimSpace(id))
		found := false
		for _, w := range all {
			if w.ID == id {
				out = append(out, w)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("--workloads: no workload %q (have %s..%s)", id, all[0].ID, all[len(all)-1].ID)
		}
	}
	return out, nil
}
