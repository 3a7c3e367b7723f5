package store

import (
	"bytes"
	"fmt"
	"testing"
)

// view looks key up as a plain-socket get does, pinning values of 1 KiB
// or more.
func view(t *testing.T, s *Store, key string) ([]byte, uint32) {
	t.Helper()
	head := func(b []byte, m Meta) []byte { return append(b, "HEAD "...) }
	out, v, ref, _, hit := s.AppendGetView(nil, []byte(key), false, 0, 1024, head)
	if !hit || string(out) != "HEAD " {
		t.Fatalf("get %s: hit %v, head %q", key, hit, out)
	}
	return v, ref
}

func TestViewSmallValuesAreCopied(t *testing.T) {
	s, _ := newStore(t, nil)
	set(t, s, "small", []byte("abc"), 0)
	head := func(b []byte, m Meta) []byte { return append(b, 'H') }
	out, v, ref, _, hit := s.AppendGetView(nil, []byte("small"), false, 0, 1024, head)
	if !hit || string(out) != "Habc" || v != nil || ref != 0 || s.Pinned() != 0 {
		t.Fatalf("out %q view %q ref %d pinned %d", out, v, ref, s.Pinned())
	}
}

// A value a reply still points into keeps its bytes and its chunk
// whatever happens to its key meanwhile.
func TestPinnedValueOutlivesItsKey(t *testing.T) {
	big := bytes.Repeat([]byte("v"), 4000)
	for _, tc := range []struct {
		name string
		act  func(t *testing.T, s *Store)
	}{
		{"set", func(t *testing.T, s *Store) { set(t, s, "k", bytes.Repeat([]byte("w"), 4000), 0) }},
		{"delete", func(t *testing.T, s *Store) { s.Delete([]byte("k")) }},
		{"touch", func(t *testing.T, s *Store) { s.Touch([]byte("k"), s.RelTime(100)) }},
		{"flush", func(t *testing.T, s *Store) { s.FlushAll(0); get(s, "k") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, nil)
			set(t, s, "k", big, 0)
			v, ref := view(t, s, "k")
			used := s.Stats().Classes[0].UsedChunks
			tc.act(t, s)
			// Fill the class: a freed chunk would be reused and overwritten.
			for i := range 50 {
				set(t, s, fmt.Sprint("other", i), bytes.Repeat([]byte("o"), 4000), 0)
			}
			if !bytes.Equal(v, big) {
				t.Fatalf("pinned value changed under the reply")
			}
			before := s.Stats().Classes[0].UsedChunks
			s.Unpin([]uint32{ref})
			after := s.Stats().Classes[0].UsedChunks
			if s.Pinned() != 0 {
				t.Fatalf("still pinned")
			}
			if tc.name != "touch" && after != before-1 {
				t.Fatalf("unpin freed %d chunks of an unlinked item, want 1 (used %d then %d; %d at pin)", before-after, before, after, used)
			}
		})
	}
}

// Eviction passes a pinned tail item by, as memcached's does a referenced one.
func TestPinnedItemIsNotEvicted(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { flat(c); c.MemoryLimit = 2 << 20 })
	val := bytes.Repeat([]byte("x"), 100_000)
	set(t, s, "first", val, 0)
	v, ref := view(t, s, "first")
	for i := 0; s.Stats().Evictions < 30; i++ {
		set(t, s, fmt.Sprint("k", i), val, 0)
	}
	if _, _, ok := get(s, "first"); !ok {
		t.Fatalf("the pinned item was evicted")
	}
	if s.Stats().LRUTailReflocked == 0 {
		t.Fatalf("lru_tail_reflocked not counted")
	}
	if !bytes.Equal(v, val) {
		t.Fatalf("pinned value changed")
	}
	s.Unpin([]uint32{ref})
	for i := 0; i < 40; i++ {
		set(t, s, fmt.Sprint("again", i), val, 0)
	}
	if _, _, ok := get(s, "first"); ok {
		t.Fatalf("unpinned, the oldest item should have been evicted")
	}
}

// incr rewrites a number in place only when no reply reads it.
func TestPinnedNumberIsNotRewrittenInPlace(t *testing.T) {
	s, _ := newStore(t, nil)
	num := append([]byte("5"), bytes.Repeat([]byte(" "), 2000)...)
	set(t, s, "n", num, 0)
	v, ref := view(t, s, "n")
	if got, _, res := s.Delta([]byte("n"), true, 1); res != DeltaOK || got != 6 {
		t.Fatalf("incr: %d %v", got, res)
	}
	if !bytes.Equal(v, num) {
		t.Fatalf("value rewritten under the reply: %q", v[:8])
	}
	if b, _, _ := get(s, "n"); string(b) != "6" {
		t.Fatalf("after incr: %q", b[:min(len(b), 8)])
	}
	s.Unpin([]uint32{ref})
}

// A page move waits for an item a reply points into; after memcached's
// thousand passes it unlinks it (slab_reassign_busy_deletes), and the page
// is freed once the reply lets go.
func TestPageMoveBusyDeletesPinnedItem(t *testing.T) {
	s, _ := newStore(t, flat)
	const n = 100_000
	for i := range 25 { // two full pages and a third begun

		k := fmt.Sprint("k", i)
		set(t, s, k, keyed(k, n), 0)
	}
	v, ref := view(t, s, "k0")
	if r := s.Reassign(classOf(t, s, "k0").ID, 1); r != ReassignOK {
		t.Fatalf("Reassign = %v", r)
	}
	for range 2000 {
		s.mu.Lock()
		s.moveSteps(moveBatch)
		s.mu.Unlock()
	}
	st := s.Stats()
	if !st.SlabReassignRunning || st.SlabReassignBusyDeletes != 1 || st.SlabReassignBusyItems < moveMaxLoops {
		t.Fatalf("running %v busy_deletes %d busy_items %d", st.SlabReassignRunning, st.SlabReassignBusyDeletes, st.SlabReassignBusyItems)
	}
	if _, _, ok := get(s, "k0"); ok {
		t.Fatalf("k0 still served after its busy delete")
	}
	if !bytes.Equal(v, keyed("k0", n)) {
		t.Fatalf("the reply's value changed while pinned")
	}
	s.Unpin([]uint32{ref})
	moveAll(t, s)
	checkAccounting(t, s)
}
