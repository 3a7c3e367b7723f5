package store

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

// TestChunkedItems: items larger than slab_chunk_max span several chunks
// and come back byte for byte.
func TestChunkedItems(t *testing.T) {
	for _, tc := range []struct {
		name    string
		itemMax uint32
		mem     uint64
		size    int
	}{
		{"700KB with -I 1m", 1 << 20, 64 << 20, 700 << 10},
		{"1,048,000 with -I 1m", 1 << 20, 64 << 20, 1_048_000},
		{"5MB with -I 8m", 8 << 20, 64 << 20, 5 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, func(c *Config) { c.ItemSizeMax = tc.itemMax; c.MemoryLimit = tc.mem })
			val := pattern(tc.size, 1)
			set(t, s, "big", val, 0)
			got, m, ok := get(s, "big")
			if !ok || m.Len != tc.size || !bytes.Equal(got, val) {
				t.Fatalf("round trip of %d bytes: ok=%v len=%d equal=%v", tc.size, ok, m.Len, bytes.Equal(got, val))
			}
			// append and prepend across chunk boundaries
			if res, err := store(t, s, ModeAppend, "big", []byte("TAIL"), 0, 0, 0); err != nil || res != Stored {
				t.Fatalf("append: %v %v", res, err)
			}
			if res, err := store(t, s, ModePrepend, "big", []byte("HEAD"), 0, 0, 0); err != nil || res != Stored {
				t.Fatalf("prepend: %v %v", res, err)
			}
			want := append(append([]byte("HEAD"), val...), "TAIL"...)
			if got, _, _ := get(s, "big"); !bytes.Equal(got, want) {
				t.Fatalf("after append+prepend: %d bytes, equal=%v", len(got), bytes.Equal(got, want))
			}
			if !s.Delete([]byte("big")) {
				t.Fatalf("delete failed")
			}
		})
	}
}

// TestItemSizeLimit: memcached's boundary with -I 1m: the limit is on the
// whole item, so a 1,048,000-byte value fits and 1,048,576 does not.
func TestItemSizeLimit(t *testing.T) {
	s, _ := newStore(t, nil)
	for _, tc := range []struct {
		size int
		err  error
	}{{1_048_000, nil}, {1 << 20, ErrTooLarge}, {1<<20 - 60, nil}, {1<<20 - 59, ErrTooLarge}} {
		// key "k", no flags, CAS on: memcached's item is 48+2+size+2+8 bytes.
		_, err := store(t, s, ModeSet, "k", make([]byte, tc.size), 0, 0, 0)
		if err != tc.err {
			t.Errorf("%d bytes: %v, want %v", tc.size, err, tc.err)
		}
	}
	if st := s.Stats(); st.StoreTooLarge != 2 {
		t.Errorf("store_too_large %d, want 2", st.StoreTooLarge)
	}
	// Append may not grow an item past the limit.
	set(t, s, "a", make([]byte, 1_048_000), 0)
	if res, _ := store(t, s, ModeAppend, "a", make([]byte, 1000), 0, 0, 0); res != NotStored {
		t.Errorf("append past -I: %v, want NotStored", res)
	}
}

// TestMemoryLimit: total_malloced stays within -m, plus the first page a
// class may take past it, however much is stored.
func TestMemoryLimit(t *testing.T) {
	const limit = 8 << 20
	s, _ := newStore(t, func(c *Config) { c.MemoryLimit = limit })
	classes := len(s.classes) - 1
	for i := 0; i < 20000; i++ {
		size := []int{10, 100, 1000, 10_000, 100_000, 600_000}[i%6]
		set(t, s, fmt.Sprint("k", i), make([]byte, size), 0)
		if m := s.Stats().TotalMalloced; m > limit+uint64(classes)<<20 {
			t.Fatalf("total_malloced %d after %d items: above %d + one page per class", m, i, limit)
		}
	}
	st := s.Stats()
	if st.Evictions == 0 {
		t.Fatalf("no evictions storing far more than -m")
	}
	pages := uint64(0)
	for _, c := range st.Classes {
		pages += uint64(c.Pages)
	}
	if pages<<20 != st.TotalMalloced {
		t.Fatalf("pages %d do not add up to total_malloced %d", pages, st.TotalMalloced)
	}
}

// TestHashExpansion: the index doubles several times and every key stays
// findable.
func TestHashExpansion(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { c.MemoryLimit = 256 << 20 })
	const n = 200_000
	power := s.Stats().HashPower
	for i := 0; i < n; i++ {
		set(t, s, fmt.Sprint("key:", i), []byte(fmt.Sprint(i)), 0)
	}
	st := s.Stats()
	if st.HashPower <= power || st.CurrItems != n || st.Evictions != 0 {
		t.Fatalf("hash_power_level %d (from %d), curr_items %d, evictions %d", st.HashPower, power, st.CurrItems, st.Evictions)
	}
	for i := 0; i < n; i++ {
		got, _, ok := get(s, fmt.Sprint("key:", i))
		if !ok || string(got) != fmt.Sprint(i) {
			t.Fatalf("key:%d lost after expansion (ok=%v, %q)", i, ok, got)
		}
	}
}

// TestHashExpansionIsIncremental: doubling moves buckets a few at a time,
// and reads, overwrites and deletes in the middle of a doubling find every
// item in whichever array holds it.
func TestHashExpansionIsIncremental(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { c.MemoryLimit = 256 << 20 })
	threshold := 3 << (initialHashPower + 1) >> 2 // 3/4 of the slots, two per bucket
	key := func(i int) string { return fmt.Sprint("k", i) }
	for i := 0; i <= threshold; i++ {
		set(t, s, key(i), []byte(fmt.Sprint(i)), 0)
	}
	if !s.Stats().HashExpanding {
		t.Fatal("the index should be doubling past 3/4 full")
	}
	// Mid-expansion: everything is findable; overwrite some, delete others.
	for i := 0; i <= threshold; i++ {
		switch i % 3 {
		case 0:
			if !s.Delete([]byte(key(i))) {
				t.Fatalf("%s not found for delete mid-expansion", key(i))
			}
		case 1:
			set(t, s, key(i), []byte("new"), 0)
		default:
			if got, _, ok := get(s, key(i)); !ok || string(got) != fmt.Sprint(i) {
				t.Fatalf("%s = %q, %v mid-expansion", key(i), got, ok)
			}
		}
	}
	for i := threshold + 1; s.Stats().HashExpanding; i++ {
		set(t, s, key(i), []byte(fmt.Sprint(i)), 0)
		// Misses probe the old array too, most of it already emptied.
		if _, _, ok := get(s, fmt.Sprint("absent", i)); ok {
			t.Fatalf("absent%d found mid-expansion", i)
		}
	}
	for i := 0; i <= threshold; i++ {
		got, _, ok := get(s, key(i))
		switch want := [3]string{"", "new", fmt.Sprint(i)}[i%3]; {
		case want == "" && ok:
			t.Fatalf("deleted %s is back after the expansion", key(i))
		case want != "" && (!ok || string(got) != want):
			t.Fatalf("%s = %q, %v after the expansion, want %q", key(i), got, ok, want)
		}
	}
}

// TestHashExpansionFinishesWithoutWrites: a cache only read after its
// load still finishes a doubling, in the maintainer's rounds, which come
// back at the shortest pause until it is done.
func TestHashExpansionFinishesWithoutWrites(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { c.MemoryLimit = 256 << 20 })
	threshold := 3 << (initialHashPower + 1) >> 2
	for i := 0; i <= threshold; i++ {
		set(t, s, fmt.Sprint("k", i), []byte(fmt.Sprint(i)), 0)
	}
	if !s.Stats().HashExpanding {
		t.Fatal("the index should be doubling past 3/4 full")
	}
	sched := maintainerSchedule{next: make([]time.Duration, len(s.classes)), backoff: make([]time.Duration, len(s.classes))}
	rounds := 0
	for ; s.Stats().HashExpanding; rounds++ {
		if rounds > 2<<(initialHashPower+1)/roundMigrateSlots {
			t.Fatalf("still expanding after %d rounds", rounds)
		}
		s.mu.Lock()
		pause := s.maintainRound(&sched, minMaintainerSleep)
		expanding := s.idx.expanding()
		s.mu.Unlock()
		if expanding && pause != minMaintainerSleep {
			t.Fatalf("round %d, mid-expansion: next round in %v, want %v", rounds, pause, minMaintainerSleep)
		}
	}
	if st := s.Stats(); st.HashPower != initialHashPower+1 || st.HashBytes != 8<<(initialHashPower+2) {
		t.Fatalf("after %d rounds: hash_power_level %d, hash_bytes %d; want level %d and only the new array",
			rounds, st.HashPower, st.HashBytes, initialHashPower+1)
	}
	for i := 0; i <= threshold; i++ {
		if got, _, ok := get(s, fmt.Sprint("k", i)); !ok || string(got) != fmt.Sprint(i) {
			t.Fatalf("k%d = %q, %v after the rounds finished the doubling", i, got, ok)
		}
	}
}

func TestDelta(t *testing.T) {
	s, _ := newStore(t, nil)
	for _, tc := range []struct {
		start string
		incr  bool
		delta uint64
		want  uint64
		after string
		res   DeltaResult
	}{
		{"10", true, 5, 15, "15", DeltaOK},
		{"100", false, 1, 99, "99 ", DeltaOK},
		{"10", false, 100, 0, "0 ", DeltaOK},
		{"18446744073709551615", true, 2, 1, "1                   ", DeltaOK},
		{"99", true, 1, 100, "100", DeltaOK},
		{" 12", true, 1, 13, "13 ", DeltaOK},
		{"abc", true, 1, 0, "abc", DeltaNonNumeric},
		{"18446744073709551616", true, 1, 0, "18446744073709551616", DeltaNonNumeric},
	} {
		set(t, s, "n", []byte(tc.start), 0)
		v, _, res := s.Delta([]byte("n"), tc.incr, tc.delta)
		got, _, _ := get(s, "n")
		if res != tc.res || v != tc.want || string(got) != tc.after {
			t.Errorf("%q %v %d: got %d %q (%v), want %d %q (%v)", tc.start, tc.incr, tc.delta, v, got, res, tc.want, tc.after, tc.res)
		}
	}
	if _, _, res := s.Delta([]byte("missing"), true, 1); res != DeltaNotFound {
		t.Errorf("missing key: %v", res)
	}
}
