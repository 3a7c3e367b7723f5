package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// memPath is a memory file on tmpfs when the host has one, as operators
// are advised to use: on a disk, saving writes the whole arena back.
func memPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "cachectl-store-test-")
	if err != nil {
		dir = t.TempDir()
	} else {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return filepath.Join(dir, "mem")
}

// savedStore fills a store with a memory file, saves it as a clean
// shutdown does and returns the file's path and the clock, for a restart.
func savedStore(t *testing.T) (string, *clock) {
	t.Helper()
	path := memPath(t)
	clk := newClock()
	s := fileStore(t, path, clk, nil)
	fillMixed(t, s)
	s.PersistOnClose()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, clk
}

// fileStore opens a store on the memory file path with the clock clk.
func fileStore(t *testing.T, path string, clk *clock, mod func(*Config)) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MemoryLimit = 64 << 20
	cfg.Now = clk.Now
	cfg.MemoryFile = path
	if mod != nil {
		mod(&cfg)
	}
	s, err := newIdle(cfg)
	if err != nil {
		t.Fatalf("opening store on %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// saved is what a test remembers of an item to compare after a restart.
type saved struct {
	val   []byte
	flags uint32
	cas   uint64
	exp   int64 // absolute Unix expiry, 0 = never
}

// fillMixed stores items of mixed sizes, TTLs and flags, chunked ones
// among them, then touches, increments, deletes and appends to some.
func fillMixed(t *testing.T, s *Store) map[string]saved {
	t.Helper()
	sizes := []int{1, 10, 100, 1000, 5000, 20000, 300000, 600 << 10, 900 << 10}
	for i := 0; i < 2000; i++ {
		key := fmt.Sprintf("k%04d", i)
		n := sizes[i%len(sizes)]
		if n > 100<<10 && i%13 != 0 {
			n = 50 // keep the large ones few
		}
		var exp int64
		if i%5 == 0 {
			exp = int64(100 + i)
		}
		if r, err := store(t, s, ModeSet, key, pattern(n, byte(i)), uint32(i%3)*7, exp, 0); err != nil || r != Stored {
			t.Fatalf("set %s: %v %v", key, r, err)
		}
	}
	set(t, s, "counter", []byte("41"), 0)
	if _, _, r := s.Delta([]byte("counter"), true, 1); r != DeltaOK {
		t.Fatalf("incr: %v", r)
	}
	s.Touch([]byte("k0001"), s.RelTime(500))
	// Expiry fields added after the store: in place, by a move to the
	// next class, and on a chunked item (k0052, 600 KiB).
	for _, k := range []string{"k0011", "k0012", "k0013", "k0016", "k0017", "k0052"} {
		if !s.Touch([]byte(k), s.RelTime(700)) {
			t.Fatalf("touch %s missed", k)
		}
	}
	s.Delete([]byte("k0002"))
	if r, _ := store(t, s, ModeAppend, "k0003", []byte("tail"), 0, 0, 0); r != Stored {
		t.Fatalf("append: %v", r)
	}
	for i := 0; i < 50; i++ {
		get(s, fmt.Sprintf("k%04d", i)) // fetched and active items
		get(s, fmt.Sprintf("k%04d", i))
	}
	return snapshot(t, s)
}

// snapshot reads every live item back without bumping it, and the order
// of every LRU segment.
func snapshot(t *testing.T, s *Store) map[string]saved {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]saved{}
	now := s.Now()
	for id := range s.classes {
		for seg := range s.classes[id].lru {
			var order []string
			for ref := s.classes[id].lru[seg].head; ref != 0; ref = s.word(ref, offNext) {
				order = append(order, string(s.key(ref)))
				if s.expired(ref, now) || s.flushed(ref, now) {
					continue
				}
				m := s.meta(ref)
				out[string(s.key(ref))] = saved{val: s.appendValue(nil, ref), flags: m.Flags, cas: m.CAS,
					exp: s.AbsTime(s.exp(ref))}
			}
			if len(order) > 0 {
				out[fmt.Sprintf("lru %d/%d", id, seg)] = saved{val: []byte(strings.Join(order, " "))}
			}
		}
	}
	return out
}

func TestWarmRestartKeepsEveryItem(t *testing.T) {
	path := memPath(t)
	clk := newClock()
	s := fileStore(t, path, clk, nil)
	if r := s.Restart(); r.Warm || !slices.Equal(r.Log, []string{"[restart] no metadata save file, starting with a clean cache"}) {
		t.Fatalf("first start: %+v", r)
	}
	want := fillMixed(t, s)
	before := s.Stats()
	if !s.PersistOnClose() {
		t.Fatal("PersistOnClose refused a store with a memory file")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("saving: %v", err)
	}

	clk.advance(30) // the downtime counts against TTLs, as in memcached
	s2 := fileStore(t, path, clk, nil)
	r := s2.Restart()
	if !r.Warm || r.Items != before.CurrItems || len(r.Log) != 0 {
		t.Fatalf("restart: %+v, want warm with %d items", r, before.CurrItems)
	}
	if _, err := os.Stat(path + metaSuffix); !os.IsNotExist(err) {
		t.Fatalf("metadata file left after a restart: %v", err)
	}
	got := snapshot(t, s2)
	if len(got) != len(want) {
		t.Fatalf("%d items after restart, %d before", len(got), len(want))
	}
	for k, w := range want {
		g := got[k]
		if !bytes.Equal(g.val, w.val) || g.flags != w.flags || g.cas != w.cas || g.exp != w.exp {
			t.Fatalf("%s: got flags %d cas %d exp %d len %d, want flags %d cas %d exp %d len %d",
				k, g.flags, g.cas, g.exp, len(g.val), w.flags, w.cas, w.exp, len(w.val))
		}
	}
	after := s2.Stats()
	if after.CurrItems != before.CurrItems || after.Bytes != before.Bytes || after.TotalMalloced != before.TotalMalloced {
		t.Fatalf("stats after restart: items %d bytes %d malloced %d; before %d %d %d", after.CurrItems, after.Bytes,
			after.TotalMalloced, before.CurrItems, before.Bytes, before.TotalMalloced)
	}
	if !slices.EqualFunc(after.Classes, before.Classes, sameClassShape) {
		t.Fatalf("slab classes differ after restart:\n%+v\n%+v", after.Classes, before.Classes)
	}

	// The restored store keeps working: new CAS values are higher, freed
	// chunks are reused, expiry still applies.
	set(t, s2, "fresh", []byte("x"), 0)
	_, m, _ := get(s2, "fresh")
	var maxCAS uint64
	for _, w := range want {
		maxCAS = max(maxCAS, w.cas)
	}
	if maxCAS == 0 {
		t.Fatal("no CAS values recorded")
	}
	if m.CAS <= maxCAS {
		t.Fatalf("CAS after restart %d, not above %d", m.CAS, maxCAS)
	}
	clk.advance(3100)
	if _, _, ok := get(s2, "k0005"); ok {
		t.Fatal("an item whose TTL ran out across the restart is still served")
	}
	fillMixed(t, s2)
}

// sameClassShape compares what a restart must keep of a class.
func sameClassShape(a, b ClassStats) bool {
	return a.ID == b.ID && a.Pages == b.Pages && a.UsedChunks == b.UsedChunks && a.Items == b.Items &&
		a.Requested == b.Requested && a.NumberHot == b.NumberHot && a.NumberWarm == b.NumberWarm &&
		a.NumberCold == b.NumberCold && a.NumberTemp == b.NumberTemp
}

func TestStopWithoutSaveStartsCold(t *testing.T) {
	path := memPath(t)
	clk := newClock()
	s := fileStore(t, path, clk, nil)
	set(t, s, "a", []byte("1"), 0)
	s.Close() // SIGTERM: no PersistOnClose
	s2 := fileStore(t, path, clk, nil)
	if r := s2.Restart(); r.Warm || s2.Stats().CurrItems != 0 {
		t.Fatalf("restart after a stop without save: %+v", r)
	}
}

func TestChangedSettingsStartCold(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		line string
	}{
		{"memory limit", func(c *Config) { c.MemoryLimit = 32 << 20 }, "[maxbytes] [old value: 67108864]"},
		{"growth factor", func(c *Config) { c.GrowthFactor = 1.5 }, "[slab_config] [old value: 1.25]"},
		{"min chunk", func(c *Config) { c.MinChunk = 96 }, "[chunk_size] [old value: 48]"},
		{"item size", func(c *Config) { c.ItemSizeMax = 2 << 20 }, "[item_size_max] [old value: 1048576]"},
		{"chunk max", func(c *Config) { c.ChunkMax = 16384 }, "[slab_chunk_size_max] [old value: 524288]"},
		{"no cas", func(c *Config) { c.CAS = false }, "[use_cas] [old value: true]"},
		{"slab reassign", func(c *Config) { c.SlabReassign = false }, "[slab_reassign] [old value: true]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, clk := savedStore(t)
			s2 := fileStore(t, path, clk, tc.mod)
			want := []string{"[restart] restart incompatible due to setting for " + tc.line,
				"[restart] missing some metadata lines",
				"[restart] failed to validate metadata, starting with a clean cache"}
			if r := s2.Restart(); r.Warm || !slices.Equal(r.Log, want) || s2.Stats().CurrItems != 0 {
				t.Fatalf("got %+v, want cold with %q", r, want)
			}
			expectNoMeta(t, path)
		})
	}
}

func expectNoMeta(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path + metaSuffix); !os.IsNotExist(err) {
		t.Fatalf("stale metadata file left behind: %v", err)
	}
}

// TestDamagedMetadataRefused: a metadata file that cannot be read stops
// the start, as memcached aborts on one; the file stays for the operator,
// and once it is moved away the store starts cold.
func TestDamagedMetadataRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func([]byte) []byte
		first string
	}{
		{"empty", func([]byte) []byte { return nil }, "[restart] Failed to read a tag from metadata file"},
		{"memcached's", func(b []byte) []byte { return []byte("Tmain\nKmaxbytes 67108864\n") },
			"[restart] internal handler for metadata tag not found: main:"},
		{"no tag", func(b []byte) []byte { return b[bytes.IndexByte(b, '\n')+1:] }, "[restart] corrupt metadata file"},
		{"garbage", func(b []byte) []byte { return []byte("\x00\x01junk\n") }, `[restart] invalid metadata line: "\x00\x01junk"`},
		{"cut short", func(b []byte) []byte { return b[:len(b)*2/3] }, "[restart] missing some metadata lines"},
		{"cut at a line", func(b []byte) []byte {
			return b[:bytes.LastIndex(b[:len(b)-1], []byte("\n"))+1]
		}, "[restart] missing some metadata lines"},
		{"flipped digit", func(b []byte) []byte {
			i := bytes.Index(b, []byte("Kcurrent_cas ")) + len("Kcurrent_cas ")
			b[i] ^= 1
			return b
		}, "[restart] metadata checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, clk := savedStore(t)
			meta, err := os.ReadFile(path + metaSuffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+metaSuffix, tc.edit(meta), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.MemoryLimit, cfg.Now, cfg.MemoryFile = 64<<20, clk.Now, path
			s2, err := newIdle(cfg)
			if err == nil {
				s2.Close()
				t.Fatalf("a damaged metadata file was accepted (%+v)", s2.Restart())
			}
			if !strings.HasPrefix(err.Error(), tc.first) || !strings.Contains(err.Error(), "move it away") {
				t.Fatalf("error %q, want it to start with %q and say what to do", err, tc.first)
			}
			if _, err := os.Stat(path + metaSuffix); err != nil {
				t.Fatalf("the damaged metadata file is gone: %v", err)
			}
			if err := os.Remove(path + metaSuffix); err != nil {
				t.Fatal(err)
			}
			s3 := fileStore(t, path, clk, nil)
			if r := s3.Restart(); r.Warm || s3.Stats().CurrItems != 0 {
				t.Fatalf("without metadata: %+v, %d items; want a cold start", r, s3.Stats().CurrItems)
			}
			set(t, s3, "after", []byte("ok"), 0)
		})
	}
}

// TestDamagedMemoryStartsCold: metadata that vouches for memory that was
// changed behind the daemon's back is caught by the walk, not trusted.
func TestDamagedMemoryStartsCold(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(mem []byte, s *Store)
	}{
		{"zeroed page", func(mem []byte, s *Store) {
			// The first class holding items: where sizes land depends on
			// the item layout.
			var p uint32
			for i := range s.classes {
				if len(s.classes[i].pageList) > 0 {
					p = s.classes[i].pageList[0]
					break
				}
			}
			clear(mem[uint64(p)*uint64(s.arena.pageSize):][:s.arena.pageSize])
		}},
		{"truncated file", nil},
		{"junk everywhere", func(mem []byte, s *Store) {
			for i := range mem[:uint64(s.arena.nextPage)*uint64(s.arena.pageSize)] {
				mem[i] = byte(i*7 + 3)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := memPath(t)
			clk := newClock()
			s := fileStore(t, path, clk, nil)
			fillMixed(t, s)
			if tc.edit != nil {
				tc.edit(s.arena.mem, s)
			}
			s.PersistOnClose()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.edit == nil {
				if err := os.Truncate(path, 10<<20); err != nil {
					t.Fatal(err)
				}
			}
			s2 := fileStore(t, path, clk, nil)
			r := s2.Restart()
			if r.Warm || len(r.Log) != 2 || !strings.HasPrefix(r.Log[0], "[restart] memory file") {
				t.Fatalf("got %+v, want a cold start naming the memory file", r)
			}
			if s2.Stats().CurrItems != 0 || s2.Stats().TotalMalloced != 0 {
				t.Fatalf("state left after a cold start: %+v", s2.Stats())
			}
			fillMixed(t, s2)
		})
	}
}

func TestMemoryFileIsLocked(t *testing.T) {
	path := memPath(t)
	clk := newClock()
	fileStore(t, path, clk, nil)
	cfg := DefaultConfig()
	cfg.Now, cfg.MemoryFile = clk.Now, path
	if s, err := newIdle(cfg); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("second store on the same memory file: %v", err)
	}
}

func TestPersistOnCloseWithoutFile(t *testing.T) {
	s, _ := newStore(t, nil)
	if s.PersistOnClose() {
		t.Fatal("PersistOnClose accepted a store without a memory file")
	}
	if r := s.Restart(); r.MemoryFile != "" || r.Warm || len(r.Log) != 0 {
		t.Fatalf("Restart without a memory file: %+v", r)
	}
}
