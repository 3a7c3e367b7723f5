package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The long-run scenarios: what memcached's background memory management
// (segmented LRU, crawler, slab page mover) does for a cache over time,
// run on a fresh memcached and a fresh cachectl with the same flags, one
// after the other so they never share the CPUs.

// longrunConfig sizes both scenarios.
type longrunConfig struct {
	Servers       compareConfig // binaries and -t
	MemoryMB      int           // size shift
	ChurnMemoryMB int           // TTL churn
	Conns         int
	Shift         time.Duration // read-through traffic after the sizes shift
	Churn         time.Duration // short-TTL churn
	Sample        time.Duration // churn sampling period
	Seed          uint64
	SmallSize     int
	LargeSize     int
	LargeKeys     int
	ChurnKeys     int
}

// shiftResult is the size-shift scenario on one server.
type shiftResult struct {
	Server        serverKind     `json:"server"`
	HitRatio      float64        `json:"hit_ratio_after_shift"` // whole shift phase
	HitRatioLate  float64        `json:"hit_ratio_second_half"` // once pages had time to move
	SlabsMoved    int64          `json:"slabs_moved"`
	PagesPerClass map[string]int `json:"pages_per_chunk_size"` // chunk size -> pages
}

// churnSample is one look at the churn scenario's server.
type churnSample struct {
	Seconds       float64 `json:"seconds"`
	Ops           int64   `json:"ops"`
	OpsPerSec     float64 `json:"ops_per_sec"` // since the previous sample
	CurrItems     int64   `json:"curr_items"`
	TotalMalloced int64   `json:"total_malloced"`
	Evictions     int64   `json:"evictions"`
	Reclaimed     int64   `json:"reclaimed"`
	CrawlerRecl   int64   `json:"crawler_reclaimed"`
}

type churnResult struct {
	Server    serverKind    `json:"server"`
	OpsPerSec float64       `json:"ops_per_sec"`
	Samples   []churnSample `json:"samples"`
}

// runShift fills the cache with small values, then runs a Zipf read-through
// workload (get; on a miss, set) over large values and measures hits.
func runShift(ctx context.Context, cfg *longrunConfig, kind serverKind) (*shiftResult, error) {
	srv, err := startServer(cfg.Servers.spec(kind, cfg.MemoryMB))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	fill := cfg.MemoryMB << 20 / cfg.SmallSize * 3 / 2 // past full: evicting
	if err := fillSmall(srv.addr, fill, cfg.SmallSize, cfg.Conns); err != nil {
		return nil, fmt.Errorf("%s: filling: %w", kind, err)
	}
	var gets, hits, lateGets, lateHits atomic.Int64
	start := time.Now()
	half := start.Add(cfg.Shift / 2)
	err = runClients(ctx, srv.addr, cfg.Conns, cfg.Shift, cfg.Seed, func(c *lrClient, rng *rand.Rand) func() error {
		zipf := rand.NewZipf(rng, 1.01, 1, uint64(cfg.LargeKeys-1))
		keys, hit := make([]string, 8), make([]bool, 8)
		return func() error {
			for i := range keys {
				keys[i] = "L" + strconv.FormatUint(zipf.Uint64(), 10)
			}
			if err := c.multiGet(keys, hit); err != nil {
				return err
			}
			n := int64(0)
			for i, h := range hit {
				if h {
					n++
				} else {
					c.appendSet(keys[i], cfg.LargeSize, 0)
				}
			}
			gets.Add(int64(len(keys)))
			hits.Add(n)
			if time.Now().After(half) {
				lateGets.Add(int64(len(keys)))
				lateHits.Add(n)
			}
			return c.send()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s: shift phase: %w", kind, err)
	}
	res := &shiftResult{Server: kind, HitRatio: fraction(hits.Load(), gets.Load()),
		HitRatioLate: fraction(lateHits.Load(), lateGets.Load())}
	return res, res.readSlabs(srv.addr)
}

// readSlabs records slabs_moved and the pages each chunk size holds.
func (r *shiftResult) readSlabs(addr string) error {
	c, err := dialLR(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.stats("")
	if err != nil {
		return err
	}
	r.SlabsMoved = statInt(st, "slabs_moved")
	slabs, err := c.stats("slabs")
	if err != nil {
		return err
	}
	r.PagesPerClass = map[string]int{}
	for k, v := range slabs {
		if id, ok := strings.CutSuffix(k, ":chunk_size"); ok {
			r.PagesPerClass[v] = int(statInt(slabs, id+":total_pages"))
		}
	}
	return nil
}

// fillSmall stores n small values, keys S0..Sn-1, over conns connections.
func fillSmall(addr string, n, size, conns int) error {
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := dialLR(addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := w; i < n; i += conns {
				c.appendSet("S"+strconv.Itoa(i), size, 0)
				if c.out.Len() > 256<<10 {
					if err := c.sync(); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- c.sync()
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runClients runs a step over and over on conns connections until d has
// passed; newStep builds each connection's step with its own randomness.
func runClients(ctx context.Context, addr string, conns int, d time.Duration, seed uint64,
	newStep func(*lrClient, *rand.Rand) func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for w := 0; w < conns; w++ {
		c, err := dialLR(addr)
		if err != nil {
			return err
		}
		step := newStep(c, rand.New(rand.NewPCG(seed, uint64(w))))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for ctx.Err() == nil {
				if err := step(); err != nil {
					errs <- err
					return
				}
			}
			errs <- c.sync()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func fraction(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// sortedSizes lists chunk sizes numerically.
func sortedSizes(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { a, _ := strconv.Atoi(out[i]); b, _ := strconv.Atoi(out[j]); return a < b })
	return out
}
