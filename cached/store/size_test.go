package store

import (
	"bytes"
	"fmt"
	"testing"
)

// TestRealSizesHoldMore fills a small store with more small items than fit,
// once placed by their real size and once by memcached's, and compares the
// items held: the same class table and memory, more items.
func TestRealSizesHoldMore(t *testing.T) {
	held := func(memcachedSizes bool) uint64 {
		s, _ := newStore(t, func(c *Config) { c.MemoryLimit, c.MemcachedItemSizes = 8<<20, memcachedSizes })
		val := bytes.Repeat([]byte("v"), 100)
		for i := range 200_000 {
			key := fmt.Sprint("key:", i)
			if _, err := store(t, s, ModeSet, key, val[:10+i%91], 1, 0, 0); err != nil {
				t.Fatalf("set %s: %v", key, err)
			}
		}
		st := s.Stats()
		if st.Evictions == 0 {
			t.Fatal("nothing was evicted: the fill is too small to compare")
		}
		return st.CurrItems
	}
	compact, mc := held(false), held(true)
	// Real sizes are 25+8+4 header bytes, memcached's 48+8+4 plus the
	// key's NUL and the value's CRLF: about 1.18x the items here.
	ratio := float64(compact) / float64(mc)
	t.Logf("real sizes hold %d items, memcached's %d: %.3fx", compact, mc, ratio)
	if ratio < 1.15 {
		t.Fatalf("ratio %.3f, want >= 1.15", ratio)
	}
}

// TestLayoutRoundTrip: plain and chunked items keep their key, value and
// flags whichever optional header fields they carry.
func TestLayoutRoundTrip(t *testing.T) {
	for _, cas := range []bool{true, false} {
		for _, flags := range []uint32{0, 0xdeadbeef} {
			for _, n := range []int{0, 1, 1000, 524288 - 40, 600_000, 2_500_000} {
				name := fmt.Sprintf("CAS %v, flags %x, %d bytes", cas, flags, n)
				s, _ := newStore(t, func(c *Config) { c.CAS, c.ItemSizeMax, c.MemoryLimit = cas, 4<<20, 64<<20 })
				val := make([]byte, n)
				for i := range val {
					val[i] = byte(i*7 + n)
				}
				key := "k" + name
				if res, err := store(t, s, ModeSet, key, val, flags, 0, 0); err != nil || res != Stored {
					t.Fatalf("%s: set: %v %v", name, res, err)
				}
				got, m, ok := get(s, key)
				if !ok || !bytes.Equal(got, val) || m.Flags != flags || (m.CAS != 0) != cas {
					t.Fatalf("%s: get: ok %v, equal %v, flags %x, cas %d", name, ok, bytes.Equal(got, val), m.Flags, m.CAS)
				}
				if !s.Delete([]byte(key)) || s.Stats().Bytes != 0 {
					t.Fatalf("%s: delete left %d bytes", name, s.Stats().Bytes)
				}
			}
		}
	}
}

// TestItemSizeAccounting: bytes and mem_requested count what the items
// occupy, or with MemcachedItemSizes what memcached counts for them.
func TestItemSizeAccounting(t *testing.T) {
	for _, tc := range []struct {
		name      string
		memcached bool
		noCAS     bool
		flags     uint32
		want      uint64
	}{
		{"real, CAS, no flags", false, false, 0, 17 + 8 + 3 + 100},
		{"real, CAS, flags", false, false, 7, 17 + 8 + 4 + 3 + 100},
		{"real, -C", false, true, 7, 17 + 4 + 3 + 100},
		{"memcached, CAS, no flags", true, false, 0, 48 + 8 + 3 + 1 + 100 + 2},
		{"memcached, -C, flags", true, true, 7, 48 + 4 + 3 + 1 + 100 + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, func(c *Config) { c.MemcachedItemSizes, c.CAS = tc.memcached, !tc.noCAS })
			val := bytes.Repeat([]byte("v"), 100)
			if _, err := store(t, s, ModeSet, "abc", val, tc.flags, 0, 0); err != nil {
				t.Fatal(err)
			}
			st := s.Stats()
			if st.Bytes != tc.want || st.Classes[0].Requested != tc.want {
				t.Fatalf("bytes %d, mem_requested %d; want %d", st.Bytes, st.Classes[0].Requested, tc.want)
			}
			got, m, ok := get(s, "abc")
			if !ok || !bytes.Equal(got, val) || m.Flags != tc.flags {
				t.Fatalf("get: %v %q flags %d", ok, got, m.Flags)
			}
			if s.Delete([]byte("abc")); s.Stats().Bytes != 0 {
				t.Fatalf("bytes %d after delete", s.Stats().Bytes)
			}
		})
	}
}

// TestReassignKeepsHeaderFields moves a page of small items carrying the
// optional header fields (CAS, client flags) to another class: rescued
// items keep value, flags and CAS, and the moved page serves its new
// class, whose id comes from the page.
func TestReassignKeepsHeaderFields(t *testing.T) {
	for _, cas := range []bool{true, false} {
		t.Run(fmt.Sprint("CAS ", cas), func(t *testing.T) {
			s, _ := newStore(t, func(c *Config) { flat(c); c.CAS = cas })
			const n = 15_000 // a full page of the 96-byte class and part of a second
			casOf := make([]uint64, n)
			for i := range n {
				k := fmt.Sprint("k", i)
				if _, err := store(t, s, ModeSet, k, keyed(k, 30), uint32(i%2*77), 0, 0); err != nil {
					t.Fatal(err)
				}
				_, m, _ := get(s, k)
				casOf[i] = m.CAS
			}
			if id := classOf(t, s, "k0").ID; id != 1 {
				t.Fatalf("items in class %d, want 1", id)
			}
			if r := s.Reassign(1, 5); r != ReassignOK {
				t.Fatalf("Reassign = %v", r)
			}
			moveAll(t, s)
			kept := 0
			for i := range n {
				k := fmt.Sprint("k", i)
				v, m, ok := get(s, k)
				if !ok {
					continue
				}
				kept++
				if !bytes.Equal(v, keyed(k, 30)) || m.Flags != uint32(i%2*77) || m.CAS != casOf[i] {
					t.Fatalf("%s after the move: value ok %v, flags %d, CAS %d (was %d)", k, bytes.Equal(v, keyed(k, 30)), m.Flags, m.CAS, casOf[i])
				}
			}
			if st := s.Stats(); kept != int(st.CurrItems) || st.SlabReassignRescues == 0 {
				t.Fatalf("%d items readable, curr_items %d, rescues %d", kept, st.CurrItems, st.SlabReassignRescues)
			}
			checkAccounting(t, s)
			malloced := s.Stats().TotalMalloced
			set(t, s, "into5", keyed("into5", 200), 0) // 240-byte class: the moved page
			if id := classOf(t, s, "into5").ID; id != 5 || s.Stats().TotalMalloced != malloced {
				t.Fatalf("class %d, malloced %d -> %d", id, malloced, s.Stats().TotalMalloced)
			}
			checkValue(t, s, "into5", 200)
		})
	}
}
