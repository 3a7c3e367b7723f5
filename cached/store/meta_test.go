package store

import "testing"

func newMetaStore(t *testing.T) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MemoryLimit = 8 << 20
	now := int64(1_700_000_000)
	cfg.Now = func() int64 { return now }
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func metaSet(t *testing.T, s *Store, key, val string, exp uint32, mode Mode, cas uint64, stale bool) (Result, uint64) {
	t.Helper()
	p, err := s.Alloc([]byte(key), 0, exp, len(val))
	if err != nil {
		t.Fatal(err)
	}
	w := segmentWriter{segs: s.Value(p, nil)}
	w.write([]byte(val))
	return s.CommitMeta(p, mode, cas, stale, false)
}

// TestCommitMetaStale covers ms with C and I: an older CAS still stores,
// keeping the old expiry, but leaves the item stale.
func TestCommitMetaStale(t *testing.T) {
	for _, tc := range []struct {
		name      string
		casDelta  int64 // request CAS relative to the stored one
		want      Result
		wantStale bool
	}{
		{"older cas stores stale", -1, Stored, true},
		{"equal cas stores fresh", 0, Stored, false},
		{"newer cas is refused", +1, Exists, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMetaStore(t)
			exp := s.RelTime(100)
			metaSet(t, s, "k", "one", exp, ModeSet, 0, false)
			_, cas := metaSet(t, s, "k", "two", exp, ModeSet, 0, false)
			res, _ := metaSet(t, s, "k", "new", 0, ModeCAS, uint64(int64(cas)+tc.casDelta), true)
			if res != tc.want {
				t.Fatalf("result %v, want %v", res, tc.want)
			}
			v := s.OpenView([]byte("k"))
			defer v.Close()
			if v.Stale() != tc.wantStale {
				t.Errorf("stale = %v, want %v", v.Stale(), tc.wantStale)
			}
			if tc.wantStale && v.Exp() != exp {
				t.Errorf("stale store changed expiry to %d, want the old %d", v.Exp(), exp)
			}
		})
	}
	s := newMetaStore(t)
	if res, _ := metaSet(t, s, "missing", "x", 0, ModeCAS, 5, true); res != NotFound {
		t.Errorf("stale cas store on a missing key: %v, want NotFound", res)
	}
}

// TestViewInvalidate covers md I: stale, a new CAS, and the token free
// for the next reader.
func TestViewInvalidate(t *testing.T) {
	s := newMetaStore(t)
	_, cas := metaSet(t, s, "k", "v", 0, ModeSet, 0, false)
	v := s.OpenView([]byte("k"))
	defer v.Close()
	v.SetTokenSent()
	v.Invalidate()
	if !v.Stale() || v.TokenSent() || v.CAS() <= cas {
		t.Errorf("after Invalidate: stale=%v token=%v cas=%d (was %d)", v.Stale(), v.TokenSent(), v.CAS(), cas)
	}
}

// TestViewDelta covers ma: CAS precondition, in-place update, growth.
func TestViewDelta(t *testing.T) {
	s := newMetaStore(t)
	_, cas := metaSet(t, s, "n", "9", 0, ModeSet, 0, false)
	v := s.OpenView([]byte("n"))
	defer v.Close()
	if _, res := v.Delta(nil, true, 1, cas+1); res != DeltaExists {
		t.Errorf("mismatched CAS: %v, want DeltaExists", res)
	}
	got, res := v.Delta(nil, true, 1, cas)
	if res != DeltaOK || string(got) != "10" || string(v.Value(nil)) != "10" {
		t.Errorf("9+1: %q %v, value %q", got, res, v.Value(nil))
	}
	got, _ = v.Delta(nil, false, 5, 0)
	if string(got) != "5" || string(v.Value(nil)) != "5 " {
		t.Errorf("10-5: %q, value %q (memcached pads in place)", got, v.Value(nil))
	}
}
