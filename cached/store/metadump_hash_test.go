package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestMetadumpHash: the hash walk reports every live item once, skips dead
// ones, counts as a crawl and keeps the table from doubling meanwhile.
func TestMetadumpHash(t *testing.T) {
	s, clk := newStore(t, nil)
	var want []string
	for i := 0; i < 500; i++ {
		k := fmt.Sprint("k", i)
		set(t, s, k, []byte("v"), 0)
		want = append(want, k)
	}
	set(t, s, "gone", []byte("v"), 1)
	clk.advance(5)
	var got []string
	inserted := false
	r, err := s.MetadumpHash(func(m MetaItem) error {
		got = append(got, string(m.Key))
		if !inserted {
			// Enough inserts to resize the table were it not walked,
			// short of the 15/16 that forces a resize.
			for i := 0; i < 15<<(initialHashPower+1)>>4-600; i++ {
				set(t, s, fmt.Sprint("new", i), nil, 0)
			}
			if s.Stats().HashExpanding || s.Stats().HashPower != initialHashPower {
				t.Error("the table doubled during a hash walk")
			}
			inserted = true
		}
		return nil
	})
	if r != CrawlOK || err != nil {
		t.Fatalf("MetadumpHash: %v %v", r, err)
	}
	for _, k := range want {
		if !slices.Contains(got, k) {
			t.Fatalf("hash walk missed %s", k)
		}
	}
	if slices.Contains(got, "gone") {
		t.Error("hash walk reported an expired item")
	}
	st := s.Stats()
	if st.LRUCrawlerRunning || st.LRUCrawlerStarts != 1 {
		t.Errorf("after the walk: running %v, starts %d", st.LRUCrawlerRunning, st.LRUCrawlerStarts)
	}
	boom := errors.New("client gone")
	if _, err := s.MetadumpHash(func(MetaItem) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("emit error: %v", err)
	}
	if s.Stats().LRUCrawlerRunning {
		t.Fatal("crawler still running after an aborted walk")
	}
}
