package store

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// keyed is a value that tells keys apart, so a copy to the wrong place
// or a lost continuation chunk shows.
func keyed(key string, n int) []byte {
	return bytes.Repeat([]byte(key+"|"), n/(len(key)+1)+1)[:n]
}

// moveAll finishes the page move in progress in the test's goroutine.
func moveAll(t *testing.T, s *Store) {
	t.Helper()
	for i := 0; i < 100_000; i++ {
		s.mu.Lock()
		s.moveSteps(moveBatch)
		running := s.mover.running
		s.mu.Unlock()
		if !running {
			return
		}
	}
	t.Fatal("page move did not finish")
}

func checkValue(t *testing.T, s *Store, key string, n int) {
	t.Helper()
	v, _, ok := get(s, key)
	if !ok {
		t.Fatalf("%s missing", key)
	}
	if !bytes.Equal(v, keyed(key, n)) {
		t.Fatalf("%s: value corrupted after the move", key)
	}
}

func TestReassignResults(t *testing.T) {
	s, _ := newStore(t, nil)
	for i := 0; i < 11; i++ { // two pages of the 103496-byte class
		set(t, s, fmt.Sprint("k", i), bigVal, 0)
	}
	big := int(classOf(t, s, "k0").ID)
	set(t, s, "small", []byte("v"), 0)
	cases := []struct {
		src, dst int
		want     ReassignResult
	}{
		{big, big, ReassignSame},
		{big, len(s.classes), ReassignBadClass},
		{-2, 1, ReassignBadClass},
		{1, big, ReassignNoSpare}, // one page only
		{0, 1, ReassignNoSpare},   // the global pool is empty
		{big, 1, ReassignOK},
		{big, 2, ReassignRunning},
	}
	for _, tc := range cases {
		if got := s.Reassign(tc.src, tc.dst); got != tc.want {
			t.Errorf("Reassign(%d, %d) = %v, want %v", tc.src, tc.dst, got, tc.want)
		}
	}
	if !s.Stats().SlabReassignRunning {
		t.Fatal("slab_reassign_running false during a move")
	}
	moveAll(t, s)
	// -1: any class with a spare page; none is left.
	if got := s.Reassign(-1, 1); got != ReassignBadClass {
		t.Errorf("Reassign(-1, 1) with no spare page anywhere = %v", got)
	}
	off, _ := newStore(t, func(c *Config) { c.SlabReassign = false })
	if got := off.Reassign(1, 2); got != ReassignDisabled {
		t.Errorf("slab_reassign off: %v", got)
	}
}

// TestReassignMovesPage empties the oldest page of a class: expired items
// are dropped, live ones rescued into the class's free chunks while there
// are any, the rest evicted; the page then serves the other class.
func TestReassignMovesPage(t *testing.T) {
	s, clk := newStore(t, flat)
	const n = 100_000
	for i := 0; i < 25; i++ { // pages 1 and 2 full, page 3 half carved
		exp := int64(0)
		if i < 3 {
			exp = 10
		}
		k := fmt.Sprint("k", i)
		if _, err := store(t, s, ModeSet, k, keyed(k, n), 0, exp, 0); err != nil {
			t.Fatal(err)
		}
	}
	clk.advance(20)
	big := classOf(t, s, "k3").ID
	malloced := s.Stats().TotalMalloced
	if r := s.Reassign(big, 1); r != ReassignOK {
		t.Fatalf("Reassign = %v", r)
	}
	moveAll(t, s)
	st := s.Stats()
	if st.SlabsMoved != 1 || st.SlabReassignRescues != 5 || st.SlabReassignEvictionsNomem != 2 ||
		st.SlabReassignRunning || st.TotalMalloced != malloced {
		t.Fatalf("slabs_moved %d rescues %d evictions_nomem %d running %v malloced %d -> %d",
			st.SlabsMoved, st.SlabReassignRescues, st.SlabReassignEvictionsNomem, st.SlabReassignRunning, malloced, st.TotalMalloced)
	}
	if cs := classByID(t, s, big); cs.Pages != 2 || cs.UsedChunks != 20 || cs.FreeChunks != 0 || cs.Items != 20 {
		t.Fatalf("source: pages %d used %d free %d items %d; want 2, 20, 0, 20", cs.Pages, cs.UsedChunks, cs.FreeChunks, cs.Items)
	}
	if cs := classByID(t, s, 1); cs.Pages != 1 {
		t.Fatalf("destination pages %d, want 1", cs.Pages)
	}
	// k0..k9 lived on page 1: k0..k2 had expired, k3..k7 went to the
	// five uncarved chunks of page 3, k8 and k9 found no free chunk.
	for i := 3; i < 25; i++ {
		k := fmt.Sprint("k", i)
		if i == 8 || i == 9 {
			if _, _, ok := get(s, k); ok {
				t.Fatalf("%s survived without a free chunk", k)
			}
			continue
		}
		checkValue(t, s, k, n)
	}
	checkAccounting(t, s)
	set(t, s, "small", []byte("v"), 0) // the moved page serves class 1
	if st := s.Stats(); st.TotalMalloced != malloced {
		t.Fatalf("class 1 took a new page: malloced %d -> %d", malloced, st.TotalMalloced)
	}
}

// TestReassignChunked moves a page holding a chunked item's head and
// continuation chunk, into the global pool, and hands the page out again.
func TestReassignChunked(t *testing.T) {
	s, _ := newStore(t, nil)
	const n = 700_000 // a head chunk plus one continuation chunk
	for i := 0; i < 4; i++ {
		k := fmt.Sprint("c", i)
		if _, err := store(t, s, ModeSet, k, keyed(k, n), 0, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	s.Delete([]byte("c3")) // two free chunks to rescue into
	last := len(s.classes) - 1
	malloced := s.Stats().TotalMalloced
	if r := s.Reassign(last, 0); r != ReassignOK {
		t.Fatalf("Reassign = %v", r)
	}
	moveAll(t, s)
	st := s.Stats()
	if st.SlabReassignRescues != 1 || st.SlabReassignChunkRescues != 1 || st.SlabGlobalPagePool != 1 || st.SlabsMoved != 1 {
		t.Fatalf("rescues %d chunk_rescues %d global pool %d moved %d; want 1 1 1 1",
			st.SlabReassignRescues, st.SlabReassignChunkRescues, st.SlabGlobalPagePool, st.SlabsMoved)
	}
	for i := 0; i < 3; i++ {
		checkValue(t, s, fmt.Sprint("c", i), n)
	}
	checkAccounting(t, s)
	if len(s.chunkHeads) != 3 {
		t.Fatalf("%d continuation chunks tracked, want 3", len(s.chunkHeads))
	}
	set(t, s, "small", []byte("v"), 0) // a new class page comes from the pool
	if st := s.Stats(); st.SlabGlobalPagePool != 0 || st.TotalMalloced != malloced {
		t.Fatalf("pool %d, malloced %d -> %d", st.SlabGlobalPagePool, malloced, st.TotalMalloced)
	}
}

// TestAutomoveOnEviction is slab_automove 2: every eviction asks for a
// page from any class with one to spare.
func TestAutomoveOnEviction(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { flat(c); c.MemoryLimit = 4 << 20; c.SlabAutomove = 2 })
	for i := 0; i < 30; i++ { // three pages of the big class
		set(t, s, fmt.Sprint("big", i), bigVal, 0)
	}
	small := bytes.Repeat([]byte("s"), 5000)
	last := ""
	for i := 0; s.Stats().Evictions == 0 && i < 1000; i++ {
		last = fmt.Sprint("small", i)
		set(t, s, last, small, 0)
	}
	st := s.Stats()
	if st.Evictions == 0 || !st.SlabReassignRunning {
		t.Fatalf("evictions %d, reassign running %v", st.Evictions, st.SlabReassignRunning)
	}
	smallID := classOf(t, s, last).ID
	moveAll(t, s)
	checkAccounting(t, s)
	if cs := classByID(t, s, smallID); cs.Pages != 2 {
		t.Fatalf("evicting class has %d pages, want 2", cs.Pages)
	}
}

// TestAutomoveWindow is slab_automove 1: once a window of samples shows a
// class evicting with a young tail while another sits on old items, a page
// moves from the old one to the young one.
func TestAutomoveWindow(t *testing.T) {
	s, clk := newStore(t, func(c *Config) { flat(c); c.MemoryLimit = 4 << 20 })
	for i := 0; i < 30; i++ {
		set(t, s, fmt.Sprint("big", i), bigVal, 0)
	}
	clk.advance(1000)
	big := classOf(t, s, "big0").ID
	small := bytes.Repeat([]byte("s"), 5000)
	k := 0
	for sec := 0; sec <= int(s.mover.window)+1; sec++ {
		for i := 0; i < 200; i++ {
			set(t, s, fmt.Sprint("small", k), small, 0)
			k++
		}
		clk.advance(1)
		s.mu.Lock()
		s.automoveCheck(s.Now())
		src, running := s.mover.src, s.mover.running
		s.mu.Unlock()
		if running {
			if src != big || sec < int(s.mover.window) {
				t.Fatalf("second %d: moving from class %d (big is %d)", sec, src, big)
			}
			return
		}
	}
	t.Fatal("no page moved to the evicting class")
}

// checkAccounting asserts that every chunk of every class is used, free
// or not carved yet, and that the free lists hold what they count.
func checkAccounting(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := smallestCls; id < len(s.classes); id++ {
		c := &s.classes[id]
		if c.used+c.nfree+c.endLeft != c.pages*c.perPage || int(c.pages) != len(c.pageList) {
			t.Fatalf("class %d: used %d + free %d + uncarved %d != %d pages x %d (page list %d)",
				id, c.used, c.nfree, c.endLeft, c.pages, c.perPage, len(c.pageList))
		}
		n := uint32(0)
		for ref := c.freeHead; ref != 0; ref = s.word(ref, offNext) {
			if !s.isFree(ref) {
				t.Fatalf("class %d: free chunk %d not marked free", id, ref)
			}
			n++
		}
		if n != c.nfree {
			t.Fatalf("class %d: free list holds %d, counted %d", id, n, c.nfree)
		}
	}
}

// TestMoverGoroutine: the store's own mover finishes a move by itself.
func TestMoverGoroutine(t *testing.T) {
	clk := newClock()
	cfg := DefaultConfig()
	cfg.Now = clk.Now
	cfg.SlabAutomove = 0
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 15; i++ {
		k := fmt.Sprint("k", i)
		set(t, s, k, keyed(k, 100_000), 0)
	}
	if r := s.Reassign(classOf(t, s, "k0").ID, 0); r != ReassignOK {
		t.Fatalf("Reassign = %v", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().SlabReassignRunning && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := s.Stats(); st.SlabsMoved != 1 || st.SlabGlobalPagePool != 1 || st.SlabReassignRescues != 5 {
		t.Fatalf("slabs_moved %d, pool %d, rescues %d", st.SlabsMoved, st.SlabGlobalPagePool, st.SlabReassignRescues)
	}
	checkAccounting(t, s)
}

// TestLowerLimitReleasesPages lowers the limit below what is allocated:
// pages already pooled go back to the kernel at once, a page pooled later
// follows, and a released page is handed out again under the new limit.
func TestLowerLimitReleasesPages(t *testing.T) {
	const page = 1 << 20
	for _, tc := range []struct {
		name         string
		reassign     bool
		wantMalloced uint64
	}{
		{"slab_reassign", true, 2 * page},
		{"no_slab_reassign", false, 4 * page}, // memcached releases nothing then
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, func(c *Config) { c.MemoryLimit = 16 * page; c.SlabReassign = tc.reassign })
			for i := 0; i < 40; i++ { // four pages of the 103496-byte class
				set(t, s, fmt.Sprint("k", i), bigVal, 0)
			}
			big := int(classOf(t, s, "k0").ID)
			if got := s.Stats().TotalMalloced; got != 4*page {
				t.Fatalf("total_malloced %d after the fill, want %d", got, 4*page)
			}
			for i := 0; i < 20; i++ { // empty the two oldest pages
				s.Delete([]byte(fmt.Sprint("k", i)))
			}
			if tc.reassign {
				for range 2 {
					if r := s.Reassign(big, 0); r != ReassignOK {
						t.Fatalf("Reassign to the pool = %v", r)
					}
					moveAll(t, s)
				}
			}
			if !s.SetMemoryLimit(2 * page) {
				t.Fatal("SetMemoryLimit refused")
			}
			if got := s.Stats().TotalMalloced; got != tc.wantMalloced {
				t.Fatalf("total_malloced %d after lowering the limit, want %d", got, tc.wantMalloced)
			}
			for i := 20; i < 40; i++ {
				if v, _, ok := get(s, fmt.Sprint("k", i)); !ok || !bytes.Equal(v, bigVal) {
					t.Fatalf("k%d lost or changed after lowering the limit", i)
				}
			}
			if !tc.reassign {
				return
			}
			// A released page reads as zeros and serves a class again once
			// the limit allows it.
			s.SetMemoryLimit(16 * page)
			set(t, s, "small", []byte("v"), 0)
			if v, _, ok := get(s, "small"); !ok || string(v) != "v" {
				t.Fatalf("small = %q, %v after reusing a released page", v, ok)
			}
			if got := s.Stats().TotalMalloced; got != 3*page {
				t.Fatalf("total_malloced %d after reusing a released page, want %d", got, 3*page)
			}
			checkAccounting(t, s)
		})
	}
}
