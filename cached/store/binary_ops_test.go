package store

import "testing"

func newTestStore(t *testing.T) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MemoryLimit = 4 << 20
	cfg.ItemSizeMax = 1 << 20
	cfg.Now = func() int64 { return 1_700_000_000 }
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *Store, key, value string) uint64 {
	t.Helper()
	p, err := s.Alloc([]byte(key), 0, 0, len(value))
	if err != nil {
		t.Fatal(err)
	}
	w := segmentWriter{segs: s.Value(p, nil)}
	w.write([]byte(value))
	res, cas := s.Commit(p, ModeSet, 0)
	if res != Stored {
		t.Fatalf("set %s: %v", key, res)
	}
	return cas
}

func TestArithmetic(t *testing.T) {
	s := newTestStore(t)
	cas := put(t, s, "n", "10")
	put(t, s, "txt", "ten")
	put(t, s, "empty", "")
	for _, tc := range []struct {
		key   string
		a     Arith
		value uint64
		res   ArithResult
	}{
		{"n", Arith{Incr: true, Delta: 5}, 15, ArithOK},
		{"n", Arith{Incr: true, Delta: 1, CAS: cas}, 0, ArithExists}, // the incr above changed the CAS
		{"n", Arith{Delta: 100}, 0, ArithOK},                         // decrement floors at 0
		{"n", Arith{Incr: true, Delta: 1000}, 1000, ArithOK},         // grows past the old length
		{"missing", Arith{Incr: true, Delta: 1}, 0, ArithNotFound},
		{"missing", Arith{Delta: 1}, 0, ArithNotFound},
		{"created", Arith{Incr: true, Delta: 1, Initial: 77, Create: true}, 77, ArithCreated},
		{"created", Arith{Incr: true, Delta: 1, Initial: 77, Create: true}, 78, ArithOK},
		{"txt", Arith{Incr: true, Delta: 1}, 0, ArithNonNumeric},
		{"empty", Arith{Incr: true, Delta: 1, Create: true}, 0, ArithNonNumeric},
	} {
		v, _, res := s.Arithmetic([]byte(tc.key), tc.a)
		if res != tc.res || v != tc.value {
			t.Errorf("%s %+v: %d %v, want %d %v", tc.key, tc.a, v, res, tc.value, tc.res)
		}
	}
	var dst []byte
	dst, m, ok := s.Get(dst, []byte("created"))
	if !ok || string(dst) != "78" || m.Flags != 0 {
		t.Errorf("created counter: %q %+v %v", dst, m, ok)
	}
	st := s.Stats()
	// Misses count only when nothing is created; a CAS mismatch counts nothing.
	if st.IncrMisses != 1 || st.DecrMisses != 1 || st.IncrHits != 3 || st.DecrHits != 1 || st.CmdSet != 3 {
		t.Errorf("counters: incr %d/%d decr %d/%d cmd_set %d", st.IncrHits, st.IncrMisses, st.DecrHits, st.DecrMisses, st.CmdSet)
	}
}

func TestDeleteCAS(t *testing.T) {
	s := newTestStore(t)
	cas := put(t, s, "k", "v")
	if got := s.DeleteCAS([]byte("k"), cas+1); got != DeleteExists {
		t.Errorf("wrong cas: %v", got)
	}
	if got := s.DeleteCAS([]byte("k"), cas); got != Deleted {
		t.Errorf("right cas: %v", got)
	}
	if got := s.DeleteCAS([]byte("k"), 0); got != DeleteNotFound {
		t.Errorf("gone: %v", got)
	}
	put(t, s, "k", "v")
	if got := s.DeleteCAS([]byte("k"), 0); got != Deleted {
		t.Errorf("no cas: %v", got)
	}
	if st := s.Stats(); st.DeleteHits != 2 || st.DeleteMisses != 1 {
		t.Errorf("delete hits %d misses %d", st.DeleteHits, st.DeleteMisses)
	}
}
