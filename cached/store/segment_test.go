package store

import (
	"errors"
	"fmt"
	"testing"
)

func segOf(t *testing.T, s *Store, key string) segment {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := s.find([]byte(key), hashKey([]byte(key)))
	if ref == 0 {
		t.Fatalf("%s not stored", key)
	}
	return s.segmentOf(ref)
}

// juggleAll runs one maintainer pass over every class, as the goroutine
// does when its waits are over.
func juggleAll(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := smallestCls; id < len(s.classes); id++ {
		n += s.juggle(uint8(id))
	}
	return n
}

func withTemp(c *Config) { c.TempLRU = true }

// TestNewItemSegment follows memcached's do_item_alloc: TTLs up to
// temporary_ttl go to TEMP when it is on, the rest to HOT, or COLD when flat.
func TestNewItemSegment(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		exp  int64
		want segment
	}{
		{"segmented, no ttl", nil, 0, segHot},
		{"segmented, short ttl, temp off", nil, 30, segHot},
		{"temp, short ttl", withTemp, 30, segTemp},
		{"temp, ttl == temporary_ttl", withTemp, 61, segTemp},
		{"temp, ttl above", withTemp, 62, segHot},
		{"temp, no ttl", withTemp, 0, segHot},
		{"temp, already expired", withTemp, -1, segHot},
		{"flat", flat, 30, segCold},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, tc.mod)
			set(t, s, "k", []byte("v"), tc.exp)
			if got := segOf(t, s, "k"); got != tc.want {
				t.Fatalf("segment %d, want %d", got, tc.want)
			}
		})
	}
}

// TestSegmentMoves walks an item through the segments the way memcached's
// lru_pull_tail and do_item_update move it, checking the counters.
func TestSegmentMoves(t *testing.T) {
	s, clk := newStore(t, nil)
	for i := 0; i < 10; i++ {
		set(t, s, fmt.Sprint("f", i), []byte("v"), 0)
	}
	clk.advance(1)
	juggleAll(s) // older than HOT's age limit (COLD is empty: 0 s): all drain
	cs := classOf(t, s, "f0")
	if cs.NumberCold != 10 || cs.MovesToCold != 10 {
		t.Fatalf("fillers: number_cold %d, moves_to_cold %d; want 10, 10", cs.NumberCold, cs.MovesToCold)
	}

	set(t, s, "k", []byte("v"), 0)
	get(s, "k")
	get(s, "k") // second read: active
	juggleAll(s)
	cs = classOf(t, s, "k")
	if segOf(t, s, "k") != segWarm || cs.MovesToWarm != 1 || cs.NumberWarm != 1 || cs.HitsToSegment[segHot] != 2 {
		t.Fatalf("after two reads and a juggle: segment %d, moves_to_warm %d, number_warm %d, hits_to_hot %d",
			segOf(t, s, "k"), cs.MovesToWarm, cs.NumberWarm, cs.HitsToSegment[segHot])
	}
	get(s, "k") // active again in WARM: the maintainer keeps it at WARM's head
	juggleAll(s)
	if cs = classOf(t, s, "k"); cs.MovesWithinLRU != 1 || cs.HitsToSegment[segWarm] != 1 || segOf(t, s, "k") != segWarm {
		t.Fatalf("moves_within_lru %d, hits_to_warm %d; want 1, 1", cs.MovesWithinLRU, cs.HitsToSegment[segWarm])
	}

	set(t, s, "c", []byte("v"), 0)
	clk.advance(1)
	juggleAll(s) // c is older than HOT's limit (0.2 x COLD's 2 s), k is not past WARM's (2 x 2 s)
	if segOf(t, s, "c") != segCold || segOf(t, s, "k") != segWarm {
		t.Fatalf("c in segment %d, k in %d; want COLD, WARM", segOf(t, s, "c"), segOf(t, s, "k"))
	}
	get(s, "c")
	get(s, "c") // an active COLD item is rescued at once, a move to WARM as memcached counts it
	cs = classOf(t, s, "c")
	if segOf(t, s, "c") != segWarm || cs.HitsToSegment[segCold] != 2 || cs.MovesToWarm != 2 || cs.MovesToCold != 11 {
		t.Fatalf("c: segment %d, hits_to_cold %d, moves_to_warm %d, moves_to_cold %d",
			segOf(t, s, "c"), cs.HitsToSegment[segCold], cs.MovesToWarm, cs.MovesToCold)
	}
	if cs.Items != 12 || cs.NumberWarm != 2 || cs.NumberCold != 10 || cs.NumberHot+cs.NumberTemp != 0 {
		t.Fatalf("numbers: total %d hot %d warm %d cold %d temp %d",
			cs.Items, cs.NumberHot, cs.NumberWarm, cs.NumberCold, cs.NumberTemp)
	}
	if cs.AgeWarm != 1 || cs.OldestAge != 2 { // k was last read 1 s ago, f0 set 2 s ago
		t.Fatalf("age_warm %d, age %d; want 1, 2", cs.AgeWarm, cs.OldestAge)
	}
}

// TestScanResistance: the point of the segmented LRU. Keys read twice sit
// in WARM; a scan of one-off sets evicts only COLD. The flat LRU loses them.
func TestScanResistance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		survive bool
	}{
		{"segmented", small, true},
		{"flat", func(c *Config) { small(c); flat(c) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, tc.mod)
			for i := 0; i < 7; i++ {
				set(t, s, fmt.Sprint("filler", i), bigVal, 0)
			}
			for i := 0; i < 3; i++ {
				k := fmt.Sprint("hot", i)
				set(t, s, k, bigVal, 0)
				get(s, k)
				get(s, k)
			}
			juggleAll(s)
			for i := 0; i < 20; i++ {
				set(t, s, fmt.Sprint("scan", i), bigVal, 0)
				juggleAll(s)
			}
			for i := 0; i < 3; i++ {
				if _, _, ok := get(s, fmt.Sprint("hot", i)); ok != tc.survive {
					t.Errorf("hot%d present %v, want %v", i, ok, tc.survive)
				}
			}
			if ev := s.Stats().Evictions; ev != 20 {
				t.Errorf("evictions %d, want 20", ev)
			}
		})
	}
}

// TestTempNeverEvicted: memcached's TEMP items cannot be evicted; a full
// class of them answers out of memory after ten reclaim rounds.
func TestTempNeverEvicted(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { small(c); withTemp(c) })
	for i := 0; i < 10; i++ {
		set(t, s, fmt.Sprint("t", i), bigVal, 30)
	}
	if _, err := store(t, s, ModeSet, "more", bigVal, 0, 30, 0); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("set into a class full of TEMP items: %v, want %v", err, ErrNoMemory)
	}
	cs := classOf(t, s, "t0")
	if cs.OutOfMemory != 1 || cs.DirectReclaims != allocTries || cs.NumberTemp != 10 || cs.Evicted != 0 {
		t.Fatalf("outofmemory %d, direct_reclaims %d, number_temp %d, evicted %d",
			cs.OutOfMemory, cs.DirectReclaims, cs.NumberTemp, cs.Evicted)
	}
}

// TestSwitchToFlat: `lru mode flat` leaves items where they are; the
// maintainer then drains HOT and WARM into the one COLD list.
func TestSwitchToFlat(t *testing.T) {
	s, _ := newStore(t, nil)
	for i := 0; i < 4; i++ {
		set(t, s, fmt.Sprint("k", i), []byte("v"), 0)
	}
	get(s, "k3")
	get(s, "k3")
	juggleAll(s)
	if err := s.SetLRUSegmented(false); err != nil {
		t.Fatal(err)
	}
	juggleAll(s)
	if cs := classOf(t, s, "k0"); cs.NumberCold != 4 {
		t.Fatalf("number_cold %d after going flat, want 4 (hot %d warm %d)", cs.NumberCold, cs.NumberHot, cs.NumberWarm)
	}
}

func TestLRUTuning(t *testing.T) {
	cases := []struct {
		hot, warm   uint32
		hotF, warmF float64
		want        error
	}{
		{10, 70, 0.5, 3, nil},
		{41, 40, 0.2, 2, ErrLRUPcts},
		{20, 40, 0, 2, ErrLRUFactors},
		{20, 40, 0.2, -1, ErrLRUFactors},
	}
	s, _ := newStore(t, nil)
	for _, tc := range cases {
		if err := s.TuneLRU(tc.hot, tc.warm, tc.hotF, tc.warmF); !errors.Is(err, tc.want) {
			t.Errorf("TuneLRU(%d, %d, %v, %v) = %v, want %v", tc.hot, tc.warm, tc.hotF, tc.warmF, err, tc.want)
		}
	}
	if c := s.Config(); c.HotLRUPct != 10 || c.WarmLRUPct != 70 || c.HotMaxFactor != 0.5 || c.WarmMaxFactor != 3 {
		t.Fatalf("config after tuning: %+v", c)
	}
	if err := s.SetTemporaryTTL(30); err != nil || !s.Config().TempLRU || s.Config().TemporaryTTL != 30 {
		t.Fatalf("temp_ttl 30: %v %+v", err, s.Config())
	}
	if err := s.SetTemporaryTTL(-1); err != nil || s.Config().TempLRU {
		t.Fatalf("temp_ttl -1: %v, temp_lru %v", err, s.Config().TempLRU)
	}
	f, _ := newStore(t, flat)
	if err := f.SetLRUSegmented(true); !errors.Is(err, ErrNoLRUMaintainer) {
		t.Fatalf("lru mode without maintainer: %v", err)
	}
}

func TestConfigValidateLRU(t *testing.T) {
	c := DefaultConfig()
	c.HotLRUPct, c.WarmLRUPct = 50, 31
	if err := c.Validate(); err == nil || err.Error() != "hot_lru_pct + warm_lru_pct cannot be more than 80% combined" {
		t.Fatalf("pcts: %v", err)
	}
	c = DefaultConfig()
	c.TempLRU, c.LRUMaintainer = true, false
	if err := c.Validate(); err == nil || err.Error() != "temporary_ttl requires lru_maintainer to be enabled" {
		t.Fatalf("temp without maintainer: %v", err)
	}
}
