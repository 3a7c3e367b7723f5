package main

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

// A set refused out of memory is an answer memcached gives under heavy
// eviction; it must not count as a wrong reply and end the trial.
func TestReadSetReplies(t *testing.T) {
	for _, tc := range []struct {
		reply   string
		wrong   bool
		refused int64
	}{
		{"STORED\r\n", false, 0},
		{"SERVER_ERROR out of memory storing object\r\n", false, 1},
		{"SERVER_ERROR object too large for cache\r\n", true, 0},
		{"NOT_STORED\r\n", true, 0},
		{"STORED\n", true, 0},
	} {
		w := &worker{r: bufio.NewReader(strings.NewReader(tc.reply)), t: &tally{}}
		msg, err := w.readSet()
		if err != nil {
			t.Fatalf("%q: %v", tc.reply, err)
		}
		if (msg != "") != tc.wrong || w.t.refused != tc.refused || w.t.sets != 1 {
			t.Errorf("%q: message %q, refused %d, sets %d; want wrong %v, refused %d, sets 1",
				tc.reply, msg, w.t.refused, w.t.sets, tc.wrong, tc.refused)
		}
	}
}

// With Insert, every set takes a key no set took before, across workers,
// and every get reads one of the Keys inserted last.
func TestInsertKeys(t *testing.T) {
	cfg := &loadConfig{Conns: 2, GetRatio: 0.5, MinSize: 100, MaxSize: 100, Keys: 10, Pipeline: 4,
		MultiGet: 1, Insert: true, Duration: time.Second}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	cfg.startInserting()
	cd, err := cfg.codec()
	if err != nil {
		t.Fatal(err)
	}
	ws := []*worker{newWorker(0, nil, cfg, cd, &tally{}), newWorker(1, nil, cfg, cd, &tally{})}
	seen := map[uint32]bool{}
	for round := range 200 {
		w := ws[round%2]
		lo := uint32(cfg.inserted.Load()) - uint32(cfg.Keys)
		w.build(time.Now())
		hi := uint32(cfg.inserted.Load())
		for _, r := range w.reqs {
			k := r.keys[0]
			switch {
			case !r.get && (k < 10 || seen[k]):
				t.Fatalf("round %d: set of key %d, which was preloaded or set before", round, k)
			case r.get && (k < lo || k >= hi):
				t.Fatalf("round %d: get of key %d, outside the last %d inserted (%d..%d)", round, k, cfg.Keys, lo, hi-1)
			}
			if !r.get {
				seen[k] = true
			}
		}
	}
	if len(seen) < 150 {
		t.Errorf("only %d sets in 800 commands at 50/50", len(seen))
	}
	// compare's turns run copies of one config: they must go on from the
	// keys the turn before stored, not store them again.
	next := *cfg
	next.startInserting()
	if next.inserted != cfg.inserted {
		t.Error("a copy of a started config got a counter of its own")
	}
	for _, bad := range []func(*loadConfig){
		func(c *loadConfig) { c.Zipf = 1.01 },
		func(c *loadConfig) { c.StrictHits = true },
	} {
		c := *cfg
		bad(&c)
		if c.validate() == nil {
			t.Errorf("--insert with %+v validated", c)
		}
	}
}
