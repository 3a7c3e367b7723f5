package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// What users buy a cache for is hits per gigabyte. A fill stores more keys
// than -m holds into a fresh server, counts the items it kept, then reads
// the key space with a Zipf distribution the way a cache-aside client does
// (a miss is followed by a set of that key), and reports the hit ratio
// after a warm-up: the items held and what the eviction order kept.

// fillLoad is one fill of the comparison.
type fillLoad struct {
	ID       string  `json:"id"`
	Desc     string  `json:"desc"`
	MemoryMB int     `json:"memory_mb"`
	Keys     int     `json:"keys"`
	MinSize  int     `json:"min_size"`
	MaxSize  int     `json:"max_size"`
	Zipf     float64 `json:"zipf"`
}

func fillLoads() []fillLoad {
	return []fillLoad{
		{ID: "F1", Desc: "4M keys, 10-100 B values", MemoryMB: 256, Keys: 4_000_000, MinSize: 10, MaxSize: 100, Zipf: 1.01},
		{ID: "F2", Desc: "2M keys, 50-1000 B values", MemoryMB: 256, Keys: 2_000_000, MinSize: 50, MaxSize: 1000, Zipf: 1.01},
	}
}

// selectFills keeps the fills named in a comma list ("" = none).
func selectFills(only string) ([]fillLoad, error) {
	var out []fillLoad
	for id := range strings.SplitSeq(only, ",") {
		id = strings.ToUpper(strings.TrimSpace(id))
		if id == "" {
			continue
		}
		found := false
		for _, f := range fillLoads() {
			if f.ID == id {
				out = append(out, f)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("--fills: no fill %q (have F1, F2)", id)
		}
	}
	return out, nil
}

// fillTrial is one server's fill.
type fillTrial struct {
	Server     serverKind `json:"server"`
	Items      uint64     `json:"items_held"` // curr_items after the fill
	Evictions  uint64     `json:"evictions"`
	Bytes      uint64     `json:"bytes"` // the server's own `bytes` stat
	RSSKB      int64      `json:"rss_kb"`
	FillPerSec float64    `json:"fill_sets_per_sec"`
	HitRate    float64    `json:"zipf_hit_rate"`
	ZipfOps    int64      `json:"zipf_ops"`
}

// fillResult compares one fill on both servers.
type fillResult struct {
	fillLoad
	Memcached  fillTrial `json:"memcached"`
	Cachectl   fillTrial `json:"cachectl"`
	ItemsRatio float64   `json:"items_ratio"`    // cachectl/memcached
	HitRatio   float64   `json:"hit_rate_ratio"` // cachectl/memcached
}

// runFill runs one fill on memcached, then on cachectl, with the same
// keys, values and Zipf sequence. ops is the length of the Zipf warm-up
// and of the measured Zipf run, each.
func runFill(ctx context.Context, cfg *compareConfig, f fillLoad, ops int64) (*fillResult, error) {
	res := &fillResult{fillLoad: f}
	for _, kind := range []serverKind{memcached, cachectl} {
		fmt.Fprintf(cfg.Progress, "%s: %s into %s -m %d\n", f.ID, f.Desc, kind, f.MemoryMB)
		t, err := fillOne(ctx, cfg, f, kind, ops)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", f.ID, kind, err)
		}
		fmt.Fprintf(cfg.Progress, "  %s %-9s items %d  evictions %d  zipf hit %.4f\n", f.ID, kind, t.Items, t.Evictions, t.HitRate)
		if kind == memcached {
			res.Memcached = *t
		} else {
			res.Cachectl = *t
		}
	}
	if res.Memcached.Items > 0 {
		res.ItemsRatio = float64(res.Cachectl.Items) / float64(res.Memcached.Items)
	}
	if res.Memcached.HitRate > 0 {
		res.HitRatio = res.Cachectl.HitRate / res.Memcached.HitRate
	}
	return res, nil
}

func fillOne(ctx context.Context, cfg *compareConfig, f fillLoad, kind serverKind, ops int64) (*fillTrial, error) {
	srv, err := startServer(cfg.spec(kind, f.MemoryMB))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	cd, err := newFixedCodec(cfg.Seed, f.MinSize, f.MaxSize)
	if err != nil {
		return nil, err
	}
	p, err := preloadValues(ctx, srv.addr, cd, f.Keys, 4, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	t := &fillTrial{Server: kind, FillPerSec: p.SetsPerSec}
	if err := t.readStats(srv); err != nil {
		return nil, err
	}
	lc := loadConfig{Addr: srv.addr, Conns: 8, MinSize: f.MinSize, MaxSize: f.MaxSize, Keys: f.Keys, Zipf: f.Zipf,
		Pipeline: 16, MultiGet: 1, CacheAside: true, FixedValues: true, Duration: 5 * time.Minute,
		MaxOps: ops, Seed: cfg.Seed, ValueSeed: cfg.Seed}
	for _, measured := range []bool{false, true} {
		r, err := runLoad(ctx, lc)
		if err != nil {
			return nil, err
		}
		if r.Errors > 0 {
			return nil, fmt.Errorf("zipf reads: %d wrong replies, first: %s", r.Errors, r.FirstError)
		}
		if measured {
			t.HitRate, t.ZipfOps = r.HitRate, r.Ops
		}
		lc.Seed++ // the measured run draws new keys from the same distribution
	}
	return t, nil
}

// readStats records what the server holds after the fill.
func (t *fillTrial) readStats(srv *server) error {
	sc, err := dialStats(srv.addr)
	if err != nil {
		return err
	}
	defer sc.close()
	// Plain stats only: memcached answers `stats cachectl` with ERROR.
	st := map[string]string{}
	if err := sc.group("stats", st); err != nil {
		return err
	}
	for name, dst := range map[string]*uint64{"curr_items": &t.Items, "evictions": &t.Evictions, "bytes": &t.Bytes} {
		if *dst, err = strconv.ParseUint(st[name], 10, 64); err != nil {
			return fmt.Errorf("stats %s: %q", name, st[name])
		}
	}
	t.RSSKB, err = procRSS(srv.pid())
	return err
}
