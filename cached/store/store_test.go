package store

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// clock is an injectable fake Unix clock; the maintainer goroutine may
// read it while a test moves it.
type clock struct{ now atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.now.Store(t0)
	return c
}

func (c *clock) Now() int64         { return c.now.Load() }
func (c *clock) advance(secs int64) { c.now.Add(secs) }

const t0 = 1_700_000_000

func newStore(t testing.TB, mod func(*Config)) (*Store, *clock) {
	t.Helper()
	clk := newClock()
	cfg := DefaultConfig()
	cfg.Now = clk.Now
	if mod != nil {
		mod(&cfg)
	}
	// No maintainer goroutine: tests run its juggles themselves, in step
	// with the fake clock.
	s, err := newIdle(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// flat is memcached's -o no_lru_maintainer: one LRU per class.
func flat(c *Config) { c.LRUSegmented, c.LRUMaintainer = false, false }

// store writes a value through the Alloc/Value/Commit path the protocol uses.
func store(t testing.TB, s *Store, mode Mode, key string, val []byte, flags uint32, exp int64, cas uint64) (Result, error) {
	t.Helper()
	p, err := s.Alloc([]byte(key), flags, s.RelTime(exp), len(val))
	if err != nil {
		return 0, err
	}
	w := segmentWriter{segs: s.Value(p, nil)}
	w.write(val)
	res, _ := s.Commit(p, mode, cas)
	return res, nil
}

func set(t testing.TB, s *Store, key string, val []byte, exp int64) {
	t.Helper()
	res, err := store(t, s, ModeSet, key, val, 0, exp, 0)
	if err != nil || res != Stored {
		t.Fatalf("set %s (%d bytes): %v %v", key, len(val), res, err)
	}
}

func get(s *Store, key string) ([]byte, Meta, bool) { return s.Get(nil, []byte(key)) }

// memcachedDefaultClasses is `memcached -vv`'s table for -n 48 -f 1.25.
var memcachedDefaultClasses = []uint32{96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480, 1856,
	2320, 2904, 3632, 4544, 5680, 7104, 8880, 11104, 13880, 17352, 21696, 27120, 33904, 42384, 52984, 66232,
	82792, 103496, 129376, 161720, 202152, 252696, 315872, 394840, 524288}

func TestClassSizesDefault(t *testing.T) {
	got := classSizes(48, 1.25, 1<<19, 1<<20)[1:]
	if fmt.Sprint(got) != fmt.Sprint(memcachedDefaultClasses) {
		t.Fatalf("class table\n got %v\nwant %v", got, memcachedDefaultClasses)
	}
}

// TestClassSizesMatchMemcached asks the installed memcached for its table
// (`-vv` prints it at start) for several -f/-n and compares sizes and
// chunks per page.
func TestClassSizesMatchMemcached(t *testing.T) {
	path, err := exec.LookPath("memcached")
	if err != nil {
		nstest.Unavailable(t, "needs memcached (the reference server); make deps installs it")
	}
	line := regexp.MustCompile(`slab class\s+(\d+): chunk size\s+(\d+) perslab\s+(\d+)`)
	for _, tc := range []struct {
		f float64
		n int
	}{{1.25, 48}, {1.5, 100}, {2, 48}, {1.08, 48}, {1.25, 200}, {3, 16}} {
		t.Run(fmt.Sprintf("f%.2f_n%d", tc.f, tc.n), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			out, _ := exec.CommandContext(ctx, path, "-u", "root", "-vv", "-p", "0", "-U", "0",
				"-f", strconv.FormatFloat(tc.f, 'f', -1, 64), "-n", strconv.Itoa(tc.n)).CombinedOutput()
			var want []string
			for _, m := range line.FindAllSubmatch(out, -1) {
				want = append(want, string(m[2])+"/"+string(m[3]))
			}
			if len(want) == 0 {
				t.Fatalf("memcached printed no slab classes:\n%s", out)
			}
			var got []string
			for _, sz := range classSizes(tc.n, tc.f, 1<<19, 1<<20)[1:] {
				got = append(got, fmt.Sprintf("%d/%d", sz, (1<<20)/sz))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("class table (size/perslab)\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestItemClass: an item goes to the smallest class that holds its real
// size (25-byte header, 8 for the CAS, 4 for non-zero flags, key, value),
// or with MemcachedItemSizes to the class memcached picks by its item size
// (48-byte header, key+1, flags, CAS, CRLF).
func TestItemClass(t *testing.T) {
	for _, tc := range []struct {
		key       string
		vlen      int
		flags     uint32
		memcached bool
		noCAS     bool
		class     int
	}{
		{"k", 70, 0, false, false, 1}, // 17+8+1+70 = 96
		{"k", 71, 0, false, false, 2}, // 97
		{"k", 66, 1, false, false, 1}, // flags cost 4 bytes
		{"k", 67, 1, false, false, 2},
		{"k", 78, 0, false, true, 1}, // -C: no CAS stored
		{"k", 79, 0, false, true, 2},
		{"kk", 93, 0, false, false, 2}, // 120
		{"kk", 94, 0, false, false, 3},
		{"k", 524288 - 26, 0, false, false, 39},
		{"k", 36, 0, true, false, 1}, // 48+2+38+8 = 96
		{"k", 37, 0, true, false, 2}, // 97
		{"k", 32, 1, true, false, 1}, // flags cost 4 bytes
		{"k", 33, 1, true, false, 2},
		{"k", 44, 0, true, true, 1},   // -C: memcached saves its 8 CAS bytes too
		{"kk", 59, 0, true, false, 2}, // 120
		{"kk", 60, 0, true, false, 3},
		{"k", 524288 - 60, 0, true, false, 39},
	} {
		s, _ := newStore(t, func(c *Config) { c.MemcachedItemSizes, c.CAS = tc.memcached, !tc.noCAS })
		if _, err := store(t, s, ModeSet, tc.key, bytes.Repeat([]byte("v"), tc.vlen), tc.flags, 0, 0); err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, c := range s.Stats().Classes {
			if c.Items > 0 {
				got = append(got, c.ID)
			}
		}
		if len(got) != 1 || got[0] != tc.class {
			t.Errorf("key %q, %d bytes, flags %d, memcached sizes %v, CAS %v: in classes %v, want %d",
				tc.key, tc.vlen, tc.flags, tc.memcached, !tc.noCAS, got, tc.class)
		}
	}
}

func TestExpiry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		exp     int64 // as the client sends it; t0+... means absolute
		visible int64 // last second (relative to the set) it is visible; -1 = never
	}{
		{"never", 0, 1 << 40},
		{"relative 10s", 10, 9},
		{"relative 30 days", 2592000, 2592000 - 1},
		{"absolute in 100s", t0 + 100, 99},
		{"2592001 is absolute, long past", 2592001, -1},
		{"negative", -1, -1},
		{"past absolute", t0 - 5, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newStore(t, nil)
			set(t, s, "k", []byte("v"), tc.exp)
			if tc.visible < 0 {
				if _, _, ok := get(s, "k"); ok {
					t.Fatalf("visible right after the set")
				}
				return
			}
			if tc.visible > 1<<32 {
				clk.advance(10 * 365 * 86400)
				if _, _, ok := get(s, "k"); !ok {
					t.Fatalf("an item without expiry expired")
				}
				return
			}
			clk.advance(tc.visible)
			if _, _, ok := get(s, "k"); !ok {
				t.Fatalf("gone %d s after the set, want visible", tc.visible)
			}
			clk.advance(1)
			if _, _, ok := get(s, "k"); ok {
				t.Fatalf("visible %d s after the set, want expired", tc.visible+1)
			}
			if st := s.Stats(); st.GetExpired != 1 || st.CurrItems != 0 {
				t.Fatalf("get_expired %d curr_items %d, want 1 and 0", st.GetExpired, st.CurrItems)
			}
		})
	}
}

// TestExpiredMemoryReused: when a class is full, an expired item at the
// LRU tail is reclaimed before anything live is evicted.
func TestExpiredMemoryReused(t *testing.T) {
	// 1 MB: the class's first page is all the memory there is.
	s, clk := newStore(t, func(c *Config) { c.MemoryLimit = 1 << 20; c.ItemSizeMax = 1 << 19 })
	val := bytes.Repeat([]byte("x"), 100_000) // 10 chunks per page
	set(t, s, "short", val, 5)
	n := 1
	for ; s.Stats().Classes[0].FreeChunks > 0; n++ {
		set(t, s, fmt.Sprint("live", n), val, 0)
	}
	clk.advance(10)
	set(t, s, "new", val, 0)
	st := s.Stats()
	if st.Reclaimed != 1 || st.Evictions != 0 || st.ExpiredUnfetch != 1 {
		t.Fatalf("reclaimed %d evictions %d expired_unfetched %d, want 1 0 1", st.Reclaimed, st.Evictions, st.ExpiredUnfetch)
	}
	for i := 1; i < n; i++ {
		if _, _, ok := get(s, fmt.Sprint("live", i)); !ok {
			t.Fatalf("live%d was evicted although an expired item was free", i)
		}
	}
}

// fillClass stores items of one size until the class must evict.
func fillClass(t *testing.T, s *Store, vlen int, exp int64) (keys []string) {
	t.Helper()
	val := bytes.Repeat([]byte("x"), vlen)
	for i := 0; i < 10000; i++ {
		k := fmt.Sprint("key", i)
		set(t, s, k, val, exp)
		keys = append(keys, k)
		if s.Stats().Evictions > 0 {
			return keys
		}
	}
	t.Fatalf("no eviction after 10000 items")
	return nil
}

func TestFlatLRUEvictionOrder(t *testing.T) {
	s, clk := newStore(t, func(c *Config) { flat(c); c.MemoryLimit = 2 << 20 })
	val := bytes.Repeat([]byte("x"), 100_000)
	// Fill the class's first page without evicting.
	var keys []string
	for i := 0; s.Stats().Evictions == 0 && i < 100; i++ {
		if st := s.Stats(); len(st.Classes) > 0 && st.Classes[0].FreeChunks == 0 && st.TotalMalloced >= 2<<20 {
			break
		}
		k := fmt.Sprint("k", i)
		set(t, s, k, val, 0)
		keys = append(keys, k)
		clk.advance(100) // past the 60 s bump interval, so reads reorder the LRU
	}
	if s.Stats().Evictions != 0 {
		t.Fatalf("evicted while filling")
	}
	// Read the oldest: it becomes the most recent; the second oldest goes first.
	if _, _, ok := get(s, keys[0]); !ok {
		t.Fatalf("%s missing", keys[0])
	}
	clk.advance(100)
	set(t, s, "new1", val, 100000)
	if _, _, ok := get(s, keys[1]); ok {
		t.Fatalf("%s (least recently used) survived", keys[1])
	}
	if _, _, ok := get(s, keys[0]); !ok {
		t.Fatalf("%s (recently read) was evicted", keys[0])
	}
	set(t, s, "new2", val, 0)
	if _, _, ok := get(s, keys[2]); ok {
		t.Fatalf("%s survived the second eviction", keys[2])
	}
	st := s.Stats()
	cs := st.Classes[len(st.Classes)-1]
	for _, c := range st.Classes {
		if c.Evicted > 0 {
			cs = c
		}
	}
	// keys[1] and keys[2] were never read and had no expiry.
	if st.Evictions != 2 || cs.EvictedNonzero != 0 || st.EvictedUnfetch != 2 {
		t.Fatalf("evictions %d evicted_nonzero %d evicted_unfetched %d, want 2 0 2", st.Evictions, cs.EvictedNonzero, st.EvictedUnfetch)
	}
	// An item with an expiry time, read once, evicted: nonzero and fetched.
	for i := 3; i < len(keys); i++ {
		s.Delete([]byte(keys[i]))
	}
	s2, _ := newStore(t, func(c *Config) { c.MemoryLimit = 2 << 20 })
	set(t, s2, "first", val, 1000)
	get(s2, "first")
	fillClass(t, s2, 100_000, 0)
	var ev ClassStats
	for _, c := range s2.Stats().Classes {
		if c.Evicted > 0 {
			ev = c
		}
	}
	if ev.Evicted != 1 || ev.EvictedNonzero != 1 || ev.EvictedUnfetched != 0 {
		t.Fatalf("evicted %d evicted_nonzero %d evicted_unfetched %d, want 1 1 0", ev.Evicted, ev.EvictedNonzero, ev.EvictedUnfetched)
	}
}

func TestNoEvictions(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { c.MemoryLimit = 2 << 20; c.Evictions = false })
	val := bytes.Repeat([]byte("x"), 100_000)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = store(t, s, ModeSet, fmt.Sprint("k", i), val, 0, 0, 0)
	}
	if err != ErrNoMemory {
		t.Fatalf("filling memory with -M: got %v, want ErrNoMemory", err)
	}
	if st := s.Stats(); st.Evictions != 0 || st.StoreNoMemory != 1 {
		t.Fatalf("evictions %d store_no_memory %d, want 0 1", st.Evictions, st.StoreNoMemory)
	}
	if _, _, ok := get(s, "k0"); !ok {
		t.Fatalf("-M evicted k0")
	}
}

func TestFlushAll(t *testing.T) {
	s, clk := newStore(t, nil)
	set(t, s, "old", []byte("1"), 0)
	s.FlushAll(0)
	if _, _, ok := get(s, "old"); ok {
		t.Fatalf("visible after flush_all")
	}
	// Stored in the same second after an immediate flush: visible (the CAS
	// watermark, not the second, decides).
	set(t, s, "after", []byte("1"), 0)
	if _, _, ok := get(s, "after"); !ok {
		t.Fatalf("item stored right after flush_all is invisible")
	}
	if st := s.Stats(); st.GetFlushed != 1 {
		t.Fatalf("get_flushed %d, want 1", st.GetFlushed)
	}

	// Delayed: memcached sets oldest_live = now+delay-1; items last
	// updated at or before that second are invalid once it has passed.
	s, clk = newStore(t, nil)
	set(t, s, "a", []byte("1"), 0)
	s.FlushAll(10)
	clk.advance(5)
	set(t, s, "b", []byte("1"), 0) // stored before the flush time: also flushed
	clk.advance(3)                 // t+8: not yet in effect
	if _, _, ok := get(s, "a"); !ok {
		t.Fatalf("a invisible before the delayed flush took effect")
	}
	clk.advance(1)                 // t+9 = oldest_live: in effect, one second early as in memcached
	set(t, s, "d", []byte("1"), 0) // stored in the oldest_live second: flushed too
	clk.advance(1)                 // t+10
	set(t, s, "c", []byte("1"), 0)
	for k, want := range map[string]bool{"a": false, "b": false, "c": true, "d": false} {
		if _, _, ok := get(s, k); ok != want {
			t.Errorf("after the delayed flush, %s visible=%v, want %v", k, ok, want)
		}
	}
}

func TestCAS(t *testing.T) {
	s, _ := newStore(t, nil)
	var last uint64
	for i := 0; i < 100; i++ {
		set(t, s, fmt.Sprint("k", i%7), []byte("1"), 0)
		_, m, _ := get(s, fmt.Sprint("k", i%7))
		if m.CAS <= last {
			t.Fatalf("CAS %d after %d: not increasing", m.CAS, last)
		}
		last = m.CAS
	}
	_, m, _ := get(s, "k0")
	if res, _ := store(t, s, ModeCAS, "k0", []byte("2"), 0, 0, m.CAS+1); res != Exists {
		t.Fatalf("cas with a stale unique: %v, want Exists", res)
	}
	if res, _ := store(t, s, ModeCAS, "k0", []byte("2"), 0, 0, m.CAS); res != Stored {
		t.Fatalf("cas with the right unique: %v, want Stored", res)
	}
	if res, _ := store(t, s, ModeCAS, "k0", []byte("3"), 0, 0, m.CAS); res != Exists {
		t.Fatalf("second cas with the same unique: %v, want Exists", res)
	}
	if res, _ := store(t, s, ModeCAS, "nope", []byte("3"), 0, 0, 1); res != NotFound {
		t.Fatalf("cas on a missing key: %v, want NotFound", res)
	}
	_, before, _ := get(s, "k1")
	s.Touch([]byte("k1"), 0)
	if _, after, _ := get(s, "k1"); after.CAS != before.CAS {
		t.Fatalf("touch changed CAS %d -> %d", before.CAS, after.CAS)
	}
}
