package store

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// bigVal lands in the 103496-byte class: ten chunks per page, so tests see
// page boundaries after a handful of sets.
var bigVal = bytes.Repeat([]byte("v"), 100_000)

// small is a 1 MiB store: one page per class, then evictions.
func small(c *Config) { c.MemoryLimit, c.ItemSizeMax = 1<<20, 512<<10 }

func classOf(t *testing.T, s *Store, key string) ClassStats {
	t.Helper()
	s.mu.Lock()
	ref := s.find([]byte(key), hashKey([]byte(key)))
	s.mu.Unlock()
	if ref == 0 {
		t.Fatalf("%s not stored", key)
	}
	return classByID(t, s, int(s.class(ref)))
}

func classByID(t *testing.T, s *Store, id int) ClassStats {
	t.Helper()
	for _, c := range s.Stats().Classes {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("class %d has no stats", id)
	return ClassStats{}
}

// TestReclaimBeforeAlloc: memcached's do_item_alloc_pull looks at the COLD
// tail before taking memory (flat LRU) and reuses an expired or flushed
// item; segmented, it does so only when the class cannot grow, after
// pushing HOT down. Either way no new page is taken and `reclaimed`,
// `expired_unfetched` count the reuse.
func TestReclaimBeforeAlloc(t *testing.T) {
	cases := []struct {
		name          string
		mod           func(*Config)
		fill          int // items of the class set before the clock moves
		kill          func(s *Store, clk *clock)
		fetchTail     bool
		wantReclaimed uint64
		wantUnfetched uint64
		wantPages     uint32
		wantDirect    uint64
	}{
		{name: "flat expired, page has room", mod: flat, fill: 3,
			kill: func(_ *Store, c *clock) { c.advance(20) }, wantReclaimed: 3, wantUnfetched: 3, wantPages: 1},
		{name: "flat expired, page full", mod: flat, fill: 10,
			kill: func(_ *Store, c *clock) { c.advance(20) }, wantReclaimed: 5, wantUnfetched: 5, wantPages: 1},
		{name: "flat expired, tail fetched", mod: flat, fill: 1, fetchTail: true,
			kill: func(_ *Store, c *clock) { c.advance(20) }, wantReclaimed: 1, wantUnfetched: 0, wantPages: 1},
		{name: "flat flushed", mod: flat, fill: 10,
			kill: func(s *Store, c *clock) { c.advance(1); s.FlushAll(0); c.advance(1) }, wantReclaimed: 5, wantUnfetched: 5, wantPages: 1},
		{name: "segmented, page has room", fill: 3,
			kill: func(_ *Store, c *clock) { c.advance(20) }, wantReclaimed: 0, wantPages: 1},
		{name: "segmented, memory full", mod: small, fill: 10,
			kill: func(_ *Store, c *clock) { c.advance(20) }, wantReclaimed: 5, wantUnfetched: 5, wantPages: 1, wantDirect: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newStore(t, tc.mod)
			for i := 0; i < tc.fill; i++ {
				set(t, s, fmt.Sprint("old", i), bigVal, 10)
			}
			if tc.fetchTail {
				get(s, "old0")
			}
			tc.kill(s, clk)
			malloced := s.Stats().TotalMalloced
			set(t, s, "new", bigVal, 0)
			st := s.Stats()
			cs := classOf(t, s, "new")
			if cs.Reclaimed != tc.wantReclaimed || cs.ExpiredUnfetched != tc.wantUnfetched || st.Reclaimed != tc.wantReclaimed {
				t.Errorf("reclaimed %d (stats %d), expired_unfetched %d; want %d, %d",
					cs.Reclaimed, st.Reclaimed, cs.ExpiredUnfetched, tc.wantReclaimed, tc.wantUnfetched)
			}
			if cs.Pages != tc.wantPages || st.TotalMalloced != malloced || st.Evictions != 0 {
				t.Errorf("pages %d, total_malloced %d -> %d, evictions %d; want %d pages, no growth, no evictions",
					cs.Pages, malloced, st.TotalMalloced, st.Evictions, tc.wantPages)
			}
			if cs.DirectReclaims != tc.wantDirect {
				t.Errorf("direct_reclaims %d, want %d", cs.DirectReclaims, tc.wantDirect)
			}
		})
	}
}

// TestReclaimNotBeforeExpiry: the tail check is memcached's exptime <
// current_time, one second later than lookups hide the item.
func TestReclaimNotBeforeExpiry(t *testing.T) {
	s, clk := newStore(t, flat)
	set(t, s, "a", []byte("x"), 10)
	clk.advance(10)
	set(t, s, "b", []byte("y"), 0)
	if r := s.Stats().Reclaimed; r != 0 {
		t.Fatalf("reclaimed %d at exp == now, want 0", r)
	}
	clk.advance(1)
	set(t, s, "c", []byte("z"), 0)
	if st := s.Stats(); st.Reclaimed != 1 || st.CurrItems != 2 {
		t.Fatalf("reclaimed %d, curr_items %d; want 1, 2", st.Reclaimed, st.CurrItems)
	}
}

// TestEvictedUnfetched: evictions count items never read, as memcached.
func TestEvictedUnfetched(t *testing.T) {
	for _, segmented := range []bool{false, true} {
		t.Run(fmt.Sprint("segmented=", segmented), func(t *testing.T) {
			s, clk := newStore(t, func(c *Config) {
				small(c)
				c.LRUSegmented = segmented
			})
			for i := 0; i < 10; i++ {
				set(t, s, fmt.Sprint("k", i), bigVal, 0)
				clk.advance(1)
			}
			get(s, "k0")
			set(t, s, "k10", bigVal, 0)
			set(t, s, "k11", bigVal, 0)
			cs := classOf(t, s, "k11")
			if cs.Evicted != 2 || cs.EvictedUnfetched != 1 || cs.EvictedNonzero != 0 {
				t.Fatalf("evicted %d, evicted_unfetched %d, evicted_nonzero %d; want 2, 1, 0",
					cs.Evicted, cs.EvictedUnfetched, cs.EvictedNonzero)
			}
			// The last eviction, k1, was set 9 s before.
			if cs.EvictedTime != 9 {
				t.Fatalf("evicted_time %d, want 9", cs.EvictedTime)
			}
		})
	}
}

// TestMaintainerGoroutine: the store's own maintainer reclaims expired
// items with nobody touching them, and Close stops it.
func TestMaintainerGoroutine(t *testing.T) {
	clk := newClock()
	cfg := DefaultConfig()
	cfg.Now = clk.Now
	cfg.TempLRU = true
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	set(t, s, "temp", []byte("x"), 5)
	set(t, s, "hot", []byte("y"), 300)
	clk.advance(10)
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().CurrItems != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := s.Stats()
	if st.CurrItems != 1 || st.Reclaimed != 1 || st.LRUMaintainerJuggles == 0 {
		t.Fatalf("curr_items %d, reclaimed %d, juggles %d; want 1, 1, > 0", st.CurrItems, st.Reclaimed, st.LRUMaintainerJuggles)
	}
	done := s.bg.done
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	default:
		t.Fatal("maintainer still running after Close")
	}
}

// TestMaintainerSharedWithLoops: a round a worker loop runs when one is
// due counts as the maintainer's, the next waits its turn, and the
// goroutine leaves the rounds to the loops while they run them.
func TestMaintainerSharedWithLoops(t *testing.T) {
	s, _ := newStore(t, nil)
	b := newBackground(len(s.classes))
	s.bg = b
	juggles := func() uint64 { return s.Stats().LRUMaintainerJuggles }

	start := b.epoch.Add(time.Second)
	s.MaintainIfDue(start)
	if got := juggles(); got != 1 {
		t.Fatalf("juggles after a due round = %d, want 1", got)
	}
	// A loop's next round waits loopRoundEvery, longer than the
	// goroutine's shortest sleep.
	s.MaintainIfDue(start.Add(minMaintainerSleep))
	if got := juggles(); got != 1 {
		t.Fatalf("a loop ran a round %v after the last one; juggles = %d, want 1", minMaintainerSleep, got)
	}
	if d := s.maintainerTurn(b, time.Second+minMaintainerSleep); d != loopsWatchFor {
		t.Fatalf("goroutine after a loop's round sleeps %v, want %v", d, loopsWatchFor)
	}
	if got := juggles(); got != 1 {
		t.Fatalf("goroutine ran a round the loops were running; juggles = %d", got)
	}
	// The loops went quiet: the goroutine's next look runs the round.
	if d := s.maintainerTurn(b, time.Second+loopsWatchFor); d < minMaintainerSleep {
		t.Fatalf("goroutine's own round sleeps %v, want at least %v", d, minMaintainerSleep)
	}
	if got := juggles(); got != 2 {
		t.Fatalf("juggles after the goroutine's round = %d, want 2", got)
	}
	// Once the store closes, loops run no more rounds. (No goroutine
	// runs here: stop as halt does and stand in for its exit.)
	b.once.Do(func() { close(b.stop) })
	close(b.done)
	s.MaintainIfDue(start.Add(time.Hour))
	if got := juggles(); got != 2 {
		t.Fatalf("a loop ran a round after close; juggles = %d", got)
	}
}

func TestMaintainerSchedule(t *testing.T) {
	s, _ := newStore(t, nil)
	sched := maintainerSchedule{next: make([]time.Duration, len(s.classes)), backoff: make([]time.Duration, len(s.classes))}
	round := func(elapsed time.Duration) time.Duration {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.maintainRound(&sched, elapsed)
	}
	if d := round(minMaintainerSleep); d != minMaintainerSleep {
		t.Fatalf("first idle round sleeps %v, want %v", d, minMaintainerSleep)
	}
	// Idle classes back off by 1/8 per juggle, up to a second.
	var d time.Duration
	for i := 0; i < 200; i++ {
		d = round(max(d, minMaintainerSleep))
	}
	if d != maxMaintainerSleep {
		t.Fatalf("idle store sleeps %v, want %v", d, maxMaintainerSleep)
	}
	// Work halves the class's wait.
	set(t, s, "k", []byte("v"), 0)
	sched.next[1] = 0
	if d := round(maxMaintainerSleep); d != maxMaintainerSleep/2 {
		t.Fatalf("busy class sleeps %v, want %v", d, maxMaintainerSleep/2)
	}
}

// TestShortTTLChurnBounded: with items that live two seconds, memory stays
// at what is alive at once, flat (reclaimed on allocation) or segmented
// (reclaimed by the maintainer, run here once a simulated second).
func TestShortTTLChurnBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{{"flat", flat}, {"segmented", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newStore(t, tc.mod)
			k := 0
			for sec := 0; sec < 60; sec++ {
				for i := 0; i < 10; i++ {
					set(t, s, fmt.Sprint("k", k), bigVal, 2)
					k++
				}
				clk.advance(1)
				juggleAll(s)
			}
			st := s.Stats()
			cs := classOf(t, s, fmt.Sprint("k", k-1))
			// Thirty items are alive or just expired at any second: three pages.
			if cs.Pages != 3 || st.CurrItems > 30 || st.Reclaimed < 570 || st.Evictions != 0 {
				t.Fatalf("after 600 two-second items: pages %d, curr_items %d, reclaimed %d, evictions %d",
					cs.Pages, st.CurrItems, st.Reclaimed, st.Evictions)
			}
		})
	}
}
