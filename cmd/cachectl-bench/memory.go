package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// memoryResult is RSS per item after a bulk load of Items 100-byte items.
type memoryResult struct {
	Server       serverKind `json:"server"`
	Items        int        `json:"items"`
	MemoryMB     int        `json:"memory_mb"`
	RSSBeforeKB  int64      `json:"rss_before_kb"`
	RSSAfterKB   int64      `json:"rss_after_kb"`
	BytesPerItem float64    `json:"bytes_per_item"`
	LoadPerSec   float64    `json:"load_sets_per_sec"`
	HoldOpsSec   float64    `json:"hold_ops_per_sec,omitempty"`
	HoldP99      int64      `json:"hold_p99_ns,omitempty"`
	HoldHitRate  float64    `json:"hold_hit_rate,omitempty"`
	GCLoad       *gcStats   `json:"gc_during_load,omitempty"` // cachectl only
	GCHold       *gcStats   `json:"gc_during_hold,omitempty"`
}

// gcStats summarises GODEBUG=gctrace=1 lines.
type gcStats struct {
	Cycles      int     `json:"cycles"`
	TotalPause  float64 `json:"total_pause_ms"` // stop-the-world: sweep termination + mark termination
	MaxPause    float64 `json:"max_pause_ms"`
	MaxHeapMB   int     `json:"max_heap_mb"`
	LastGoalMB  int     `json:"last_goal_mb"`
	ConcMarkMax float64 `json:"max_concurrent_mark_ms"`
}

// gc 12 @3.456s 2%: 0.015+1.2+0.020 ms clock, ... 4->5->2 MB, 8 MB goal, ...
var gcLine = regexp.MustCompile(`(?m)^gc \d+ @[\d.]+s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock.*? (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

func parseGCTrace(s string) *gcStats {
	g := &gcStats{}
	for _, m := range gcLine.FindAllStringSubmatch(s, -1) {
		st, _ := strconv.ParseFloat(m[1], 64)
		mark, _ := strconv.ParseFloat(m[2], 64)
		mt, _ := strconv.ParseFloat(m[3], 64)
		before, _ := strconv.Atoi(m[4])
		goal, _ := strconv.Atoi(m[7])
		g.Cycles++
		g.TotalPause += st + mt
		g.MaxPause = max(g.MaxPause, st, mt)
		g.ConcMarkMax = max(g.ConcMarkMax, mark)
		g.MaxHeapMB = max(g.MaxHeapMB, before)
		g.LastGoalMB = goal
	}
	return g
}

// runMemory loads n 100-byte items into a fresh server and reports RSS
// per item; for cachectl (started with GODEBUG=gctrace=1) it also
// reports GC cycles and pauses during the load and during a hold period
// of 90/10 traffic over the loaded keys.
func runMemory(ctx context.Context, cfg *compareConfig, kind serverKind, n, mem int, hold time.Duration) (*memoryResult, error) {
	spec := cfg.spec(kind, mem)
	if kind == cachectl {
		spec.Env = []string{"GODEBUG=gctrace=1"}
	}
	srv, err := startServer(spec)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	time.Sleep(300 * time.Millisecond) // let start-up allocation settle
	r := &memoryResult{Server: kind, Items: n, MemoryMB: mem}
	if r.RSSBeforeKB, err = procRSS(srv.pid()); err != nil {
		return nil, err
	}
	mark := len(srv.stderr.String())
	p, err := preload(ctx, srv.addr, n, 4, 100, 100, cfg.Seed, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	r.LoadPerSec = p.SetsPerSec
	time.Sleep(time.Second)
	if r.RSSAfterKB, err = procRSS(srv.pid()); err != nil {
		return nil, err
	}
	r.BytesPerItem = float64(r.RSSAfterKB-r.RSSBeforeKB) * 1024 / float64(n)
	out := srv.stderr.String()
	if kind == cachectl {
		r.GCLoad = parseGCTrace(out[mark:])
	}
	mark = len(out)
	if hold > 0 {
		lr, err := runLoad(ctx, loadConfig{Addr: srv.addr, Conns: 50, GetRatio: 0.9, MinSize: 100, MaxSize: 100,
			Keys: n, Pipeline: 1, MultiGet: 1, Duration: hold, MaxOps: cfg.MaxOps, StrictHits: true, Seed: cfg.Seed + 7, ValueSeed: cfg.Seed})
		if err != nil {
			return nil, err
		}
		if lr.Errors > 0 {
			return nil, fmt.Errorf("hold traffic on %s with %d items: %d errors, first: %s", kind, n, lr.Errors, lr.FirstError)
		}
		r.HoldOpsSec, r.HoldP99, r.HoldHitRate = lr.OpsPerSec, int64(lr.P99), lr.HitRate
		if kind == cachectl {
			r.GCHold = parseGCTrace(srv.stderr.String()[mark:])
		}
	}
	return r, nil
}
