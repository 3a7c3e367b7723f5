package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// runCrawl finishes the current crawl in the test's goroutine.
func runCrawl(t *testing.T, s *Store) {
	t.Helper()
	if !s.crawlUntilDone(make(chan struct{})) {
		t.Fatal("crawl stopped early")
	}
}

func TestCrawlReclaims(t *testing.T) {
	s, clk := newStore(t, nil)
	for i := 0; i < 5; i++ {
		set(t, s, fmt.Sprint("exp", i), []byte("v"), 10)
	}
	set(t, s, "read", []byte("v"), 10)
	get(s, "read")
	for i := 0; i < 3; i++ {
		set(t, s, fmt.Sprint("keep", i), []byte("v"), 0)
	}
	clk.advance(20)
	if r := s.Crawl(nil); r != CrawlOK {
		t.Fatalf("Crawl = %v", r)
	}
	if st := s.Stats(); !st.LRUCrawlerRunning || st.LRUCrawlerStarts != 1 || st.CurrItems != 9 {
		t.Fatalf("before the crawler runs: running %v, starts %d, curr_items %d", st.LRUCrawlerRunning, st.LRUCrawlerStarts, st.CurrItems)
	}
	runCrawl(t, s)
	st := s.Stats()
	if st.LRUCrawlerRunning || st.CurrItems != 3 || st.CrawlerReclaimed != 6 || st.CrawlerItemsChecked != 9 ||
		st.ExpiredUnfetch != 5 || st.Reclaimed != 0 {
		t.Fatalf("after: running %v curr_items %d crawler_reclaimed %d crawler_items_checked %d expired_unfetched %d reclaimed %d",
			st.LRUCrawlerRunning, st.CurrItems, st.CrawlerReclaimed, st.CrawlerItemsChecked, st.ExpiredUnfetch, st.Reclaimed)
	}
}

func TestCrawlResults(t *testing.T) {
	s, _ := newStore(t, nil)
	set(t, s, "k", []byte("v"), 0)
	cases := []struct {
		ids  []int
		want CrawlResult
	}{
		{[]int{0}, CrawlBadClass},
		{[]int{1, 64}, CrawlBadClass},
		{[]int{1}, CrawlOK},
		{[]int{2}, CrawlRunning}, // the first is still running
	}
	for _, tc := range cases {
		if got := s.Crawl(tc.ids); got != tc.want {
			t.Errorf("Crawl(%v) = %v, want %v", tc.ids, got, tc.want)
		}
	}
	runCrawl(t, s)
	// A class past the table exists in memcached too, empty: OK at once.
	if got := s.Crawl([]int{63}); got != CrawlOK || s.Stats().LRUCrawlerRunning {
		t.Fatalf("Crawl(63) = %v, running %v", got, s.Stats().LRUCrawlerRunning)
	}
	off, _ := newStore(t, func(c *Config) { c.LRUCrawler = false })
	if got := off.Crawl(nil); got != CrawlDisabled {
		t.Fatalf("disabled crawler: %v", got)
	}
}

func TestCrawlToCrawl(t *testing.T) {
	s, clk := newStore(t, nil)
	for i := 0; i < 5; i++ {
		set(t, s, fmt.Sprint("k", i), []byte("v"), 10)
	}
	clk.advance(20)
	s.SetCrawlerToCrawl(2)
	s.Crawl([]int{1})
	runCrawl(t, s)
	if st := s.Stats(); st.CrawlerItemsChecked != 2 || st.CurrItems != 3 {
		t.Fatalf("tocrawl 2: checked %d, curr_items %d", st.CrawlerItemsChecked, st.CurrItems)
	}
}

// TestCrawlCursorSurvivesChanges: the item the crawler looks at next may
// be deleted or moved between two of its batches.
func TestCrawlCursorSurvivesChanges(t *testing.T) {
	s, clk := newStore(t, nil)
	for i := 0; i < 6; i++ {
		set(t, s, fmt.Sprint("k", i), []byte("v"), 10)
	}
	clk.advance(20)
	s.Crawl([]int{1})
	s.mu.Lock()
	s.crawlRound(1, nil) // HOT first: reclaims k0; the cursor is at k1
	s.mu.Unlock()
	s.Unlink([]byte("k1"))
	set(t, s, "k2", []byte("new"), 0) // replaced: the old k2 leaves the list
	runCrawl(t, s)
	st := s.Stats()
	if st.CurrItems != 1 || st.CrawlerReclaimed != 4 || st.CrawlerItemsChecked != 5 {
		t.Fatalf("curr_items %d, crawler_reclaimed %d, checked %d; want 1, 4, 5",
			st.CurrItems, st.CrawlerReclaimed, st.CrawlerItemsChecked)
	}
}

// TestAutoCrawl follows memcached's lru_maintainer_crawler_check: the first
// check crawls everything; a segment whose items expire within the minute
// is crawled again 5 s after the last crawl, and then reclaimed.
func TestAutoCrawl(t *testing.T) {
	s, clk := newStore(t, nil)
	for i := 0; i < 10; i++ {
		set(t, s, fmt.Sprint("k", i), []byte("v"), 30)
	}
	check := func() {
		s.mu.Lock()
		s.autoCrawlCheck(s.Now())
		s.mu.Unlock()
		runCrawl(t, s)
	}
	check()
	if st := s.Stats(); st.LRUCrawlerStarts != 1 || st.CrawlerItemsChecked != 10 || st.CurrItems != 10 {
		t.Fatalf("first crawl: starts %d, checked %d, curr_items %d", st.LRUCrawlerStarts, st.CrawlerItemsChecked, st.CurrItems)
	}
	if h := s.crawl.auto.stats[1][segHot].histo[0]; h != 10 {
		t.Fatalf("histogram bucket 0 = %d, want 10", h)
	}
	clk.advance(40)
	check() // reschedules: next crawl 5 s from now
	if st := s.Stats(); st.LRUCrawlerStarts != 1 {
		t.Fatalf("crawled again before the wait: starts %d", st.LRUCrawlerStarts)
	}
	clk.advance(6)
	check()
	if st := s.Stats(); st.LRUCrawlerStarts != 2 || st.CurrItems != 0 || st.CrawlerReclaimed != 10 {
		t.Fatalf("second crawl: starts %d, curr_items %d, crawler_reclaimed %d", st.LRUCrawlerStarts, st.CurrItems, st.CrawlerReclaimed)
	}
}

// TestCrawlerGoroutine: the crawler goroutine reclaims with nobody
// touching the keys, and follows enable/disable.
func TestCrawlerGoroutine(t *testing.T) {
	clk := newClock()
	cfg := DefaultConfig()
	cfg.Now = clk.Now
	cfg.LRUMaintainer = false // so only the crawler can reclaim
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 100; i++ {
		set(t, s, fmt.Sprint("k", i), []byte("v"), 5)
	}
	clk.advance(10)
	if r := s.Crawl(nil); r != CrawlOK {
		t.Fatalf("Crawl = %v", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().LRUCrawlerRunning && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.Stats(); st.CurrItems != 0 || st.CrawlerReclaimed != 100 {
		t.Fatalf("curr_items %d, crawler_reclaimed %d, reclaimed %d", st.CurrItems, st.CrawlerReclaimed, st.Reclaimed)
	}
	if err := s.EnableCrawler(); !errors.Is(err, ErrCrawlerRunning) {
		t.Fatalf("enable while running: %v", err)
	}
	s.DisableCrawler()
	if r := s.Crawl(nil); r != CrawlDisabled {
		t.Fatalf("crawl after disable: %v", r)
	}
	if err := s.EnableCrawler(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCrawlerSleep(1_000_001); !errors.Is(err, ErrCrawlerSleep) {
		t.Fatalf("sleep above 1 s: %v", err)
	}
}

func TestMetadump(t *testing.T) {
	for _, tc := range []struct {
		name         string
		memcached    bool
		sizeA, sizeB int
	}{
		{"real sizes", false, 27, 36},     // 17+8 header (+4 for b's expiry), key, value
		{"memcached sizes", true, 61, 66}, // memcached's ITEM_ntotal
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newStore(t, func(c *Config) { flat(c); c.MemcachedItemSizes = tc.memcached })
			testMetadump(t, s, clk, tc.sizeA, tc.sizeB)
		})
	}
}

func testMetadump(t *testing.T, s *Store, clk *clock, sizeA, sizeB int) {
	t.Helper()
	set(t, s, "a", []byte("v"), 0)
	clk.advance(1)
	set(t, s, "b:1~x", []byte("vv"), 100)
	get(s, "b:1~x")
	set(t, s, "gone", []byte("v"), 1)
	clk.advance(5)
	var out strings.Builder
	r, err := s.Metadump(nil, func(m MetaItem) error {
		out.Write(AppendMetadump(nil, m))
		return nil
	})
	if r != CrawlOK || err != nil {
		t.Fatalf("Metadump: %v %v", r, err)
	}
	want := fmt.Sprintf("key=a exp=-1 la=%d cas=1 fetch=no cls=1 size=%d\n"+
		"key=b%%3A1~x exp=%d la=%d cas=2 fetch=yes cls=1 size=%d\n", t0, sizeA, t0+101, t0+1, sizeB)
	if out.String() != want {
		t.Fatalf("metadump\n got %q\nwant %q", out.String(), want)
	}
	// An emit error (the client left) ends the dump and frees the crawler.
	boom := errors.New("client gone")
	if _, err := s.Metadump([]int{1}, func(MetaItem) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("emit error: %v", err)
	}
	if s.Stats().LRUCrawlerRunning {
		t.Fatal("crawler still running after an aborted dump")
	}
}

func TestURIEncode(t *testing.T) {
	for in, want := range map[string]string{
		"plain-key_1.2~3": "plain-key_1.2~3",
		"a b":             "a%20b",
		"k/é":             "k%2F%C3%A9",
		"%":               "%25",
	} {
		if got := string(appendURIEncoded(nil, []byte(in))); got != want {
			t.Errorf("uriencode(%q) = %q, want %q", in, got, want)
		}
	}
}
