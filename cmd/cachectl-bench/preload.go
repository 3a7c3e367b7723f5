package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// preloadBatch is how many sets go in one write during a bulk load.
const preloadBatch = 100

// preloadResult is a bulk load's outcome.
type preloadResult struct {
	Keys       int           `json:"keys"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	SetsPerSec float64       `json:"sets_per_sec"`
	Errors     int64         `json:"errors"`
	Refused    int64         `json:"refused,omitempty"` // sets answered out of memory
	FirstError string        `json:"first_error,omitempty"`
}

// preload stores every key 0..keys-1 once (version 0, no TTL), split
// over conns connections in pipelined batches, and checks every reply.
// The whole load is bounded by limit.
func preload(ctx context.Context, addr string, keys, conns, minSize, maxSize int, seed uint64, limit time.Duration) (*preloadResult, error) {
	cd, err := newCodec(seed, minSize, maxSize)
	if err != nil {
		return nil, err
	}
	return preloadValues(ctx, addr, cd, keys, conns, limit)
}

// preloadValues is preload with the values of codec cd.
func preloadValues(ctx context.Context, addr string, cd *codec, keys, conns int, limit time.Duration) (*preloadResult, error) {
	if conns < 1 || keys < 0 {
		return nil, fmt.Errorf("preload: %d keys over %d connections", keys, conns)
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	deadline, _ := ctx.Deadline()
	tallies := make([]tally, conns)
	var wg sync.WaitGroup
	start := time.Now()
	per := (keys + conns - 1) / conns
	for i := range conns {
		lo, hi := min(i*per, keys), min((i+1)*per, keys)
		wg.Go(func() { preloadRange(ctx, addr, cd, lo, hi, deadline, &tallies[i]) })
	}
	wg.Wait()
	r := &preloadResult{Keys: keys, Elapsed: time.Since(start)}
	for i := range tallies {
		r.Errors += tallies[i].errors
		r.Refused += tallies[i].refused
		if r.FirstError == "" {
			r.FirstError = tallies[i].firstErr
		}
	}
	r.SetsPerSec = float64(keys) / r.Elapsed.Seconds()
	if r.Errors > 0 {
		return r, fmt.Errorf("preload of %d keys into %s: %d errors, first: %s", keys, addr, r.Errors, r.FirstError)
	}
	return r, nil
}

func preloadRange(ctx context.Context, addr string, cd *codec, lo, hi int, deadline time.Time, t *tally) {
	if lo >= hi {
		return
	}
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.fail(fmt.Sprintf("preload: %v", err))
		return
	}
	defer nc.Close()
	if err := nc.SetDeadline(deadline); err != nil {
		t.fail(fmt.Sprintf("preload: %v", err))
		return
	}
	r := bufio.NewReaderSize(nc, 16<<10)
	var out, val []byte
	var cfg loadConfig
	w := &worker{cfg: &cfg, cd: cd}
	for k := lo; k < hi; k += preloadBatch {
		if ctx.Err() != nil {
			t.fail(fmt.Sprintf("preload stopped at key %d: %v", k, ctx.Err()))
			return
		}
		out = out[:0]
		n := min(preloadBatch, hi-k)
		for j := range n {
			w.val = val[:0]
			w.ver = 0
			out = w.appendSet(out, uint32(k+j), time.Time{})
			val = w.val
		}
		if _, err := nc.Write(out); err != nil {
			t.fail(fmt.Sprintf("preload: %v", err))
			return
		}
		for range n {
			line, err := r.ReadSlice('\n')
			if err != nil {
				t.fail(fmt.Sprintf("preload: %v", err))
				return
			}
			if !t.stored(line) {
				t.fail(fmt.Sprintf("preload: expected STORED, got %q", clip(line)))
				return
			}
		}
	}
}
