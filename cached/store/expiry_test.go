package store

import (
	"bytes"
	"fmt"
	"testing"
)

// TestTouchAddsExpiryField: an item stored without an expiry gets one by
// touch, in place when its chunk has room and by a copy into the next
// class when not; value, flags, CAS and accounting follow, and the item
// expires when the touch said.
func TestTouchAddsExpiryField(t *testing.T) {
	for _, tc := range []struct {
		name      string
		vlen      int
		flags     uint32
		classFrom int
		classTo   int
	}{
		{"room in the chunk", 60, 0, 1, 1}, // 17+8+1+60 = 86, +4 fits 96
		{"chunk full", 70, 0, 1, 2},        // 96: the field needs class 2
		{"chunk full, flags", 66, 9, 1, 2}, // flags before the field
		{"chunked", 600 << 10, 3, 39, 39},  // larger than a chunk
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newStore(t, nil)
			val := bytes.Repeat([]byte("x"), tc.vlen)
			for i := range val {
				val[i] = byte('a' + i%26)
			}
			if _, err := store(t, s, ModeSet, "k", val, tc.flags, 0, 0); err != nil {
				t.Fatal(err)
			}
			_, before, _ := get(s, "k")
			bytesBefore := s.Stats().Bytes
			if got := classesHolding(s); len(got) != 1 || got[0] != tc.classFrom {
				t.Fatalf("stored in classes %v, want %d", got, tc.classFrom)
			}
			if !s.Touch([]byte("k"), s.RelTime(10)) {
				t.Fatal("touch missed")
			}
			got, m, ok := get(s, "k")
			if !ok || !bytes.Equal(got, val) || m.Flags != tc.flags || m.CAS != before.CAS {
				t.Fatalf("after touch: ok %v, equal %v, flags %d, cas %d (was %d)", ok, bytes.Equal(got, val), m.Flags, m.CAS, before.CAS)
			}
			if c := classesHolding(s); len(c) != 1 || c[0] != tc.classTo {
				t.Fatalf("after touch in classes %v, want %d", c, tc.classTo)
			}
			if st := s.Stats(); st.Bytes != bytesBefore+expBytes || st.CurrItems != 1 {
				t.Fatalf("bytes %d (was %d), curr_items %d", st.Bytes, bytesBefore, st.CurrItems)
			}
			clk.advance(11)
			if _, _, ok := get(s, "k"); ok {
				t.Fatal("touched item did not expire")
			}
			if st := s.Stats(); st.Bytes != 0 || st.CurrItems != 0 {
				t.Fatalf("after expiry: bytes %d, curr_items %d", st.Bytes, st.CurrItems)
			}
		})
	}
}

// TestExpiryFieldKept: a touch back to 0 keeps the field (the item never
// shrinks under itself), and a touch to 0 of an item without one is free.
func TestExpiryFieldKept(t *testing.T) {
	s, _ := newStore(t, nil)
	set(t, s, "a", []byte("v"), 0)
	b0 := s.Stats().Bytes
	if !s.Touch([]byte("a"), 0) || s.Stats().Bytes != b0 {
		t.Fatalf("touch 0 without a field: bytes %d, want %d", s.Stats().Bytes, b0)
	}
	s.Touch([]byte("a"), s.RelTime(100))
	s.Touch([]byte("a"), 0)
	if got, _, ok := get(s, "a"); !ok || string(got) != "v" || s.Stats().Bytes != b0+expBytes {
		t.Fatalf("after touch to 0: %q %v, bytes %d", got, ok, s.Stats().Bytes)
	}
}

// TestViewSetExpMovesItem: meta's T on an item whose chunk is full moves
// it, and the view goes on reading the moved item.
func TestViewSetExpMovesItem(t *testing.T) {
	s, _ := newStore(t, nil)
	val := bytes.Repeat([]byte("m"), 70)
	set(t, s, "k", val, 0)
	v := s.OpenView([]byte("k"))
	exp := s.RelTime(50)
	v.SetExp(exp)
	if v.Exp() != exp || !bytes.Equal(v.Value(nil), val) || string(v.Key()) != "k" {
		v.Close()
		t.Fatalf("view after SetExp: exp %d, value %q", v.Exp(), v.Value(nil))
	}
	v.Bump()
	v.Close()
	if c := classesHolding(s); len(c) != 1 || c[0] != 2 {
		t.Fatalf("moved item in classes %v, want 2", c)
	}
}

func classesHolding(s *Store) []int {
	var got []int
	for _, c := range s.Stats().Classes {
		if c.Items > 0 {
			got = append(got, c.ID)
		}
	}
	return got
}

// TestSetExpNoEvictions: under -M every item carries the expiry field, so
// a touch on a full cache never needs a chunk, never drops an item.
func TestSetExpNoEvictions(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { c.MemoryLimit, c.Evictions = 2<<20, false })
	val := bytes.Repeat([]byte("z"), 60)
	stored := 0
	for i := 0; ; i++ {
		if _, err := store(t, s, ModeSet, fmt.Sprint("k", i), val, 0, 0, 0); err != nil {
			break
		}
		stored++
	}
	for i := range stored {
		if !s.Touch([]byte(fmt.Sprint("k", i)), s.RelTime(100)) {
			t.Fatalf("touch of k%d on a full -M cache missed", i)
		}
	}
	if st := s.Stats(); st.Evictions != 0 || st.CurrItems != uint64(stored) {
		t.Fatalf("evictions %d, curr_items %d, stored %d", st.Evictions, st.CurrItems, stored)
	}
}
