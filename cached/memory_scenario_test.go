package cached

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Long-run memory management, played against stock memcached 1.6.18 and
// cachectl with the same flags and workload: the counters must move the
// same way. Time is real here (both servers keep a one-second clock), so
// each scenario waits for a state rather than for a duration.

var bothServers = []struct {
	name  string
	start func(testing.TB, ...string) *daemon
}{{"memcached", startMemcached}, {"cachectl", startCachectlSized}}

// scenario is one server under a scenario's workload.
type scenario struct {
	*statsClient
	t testing.TB
}

func newScenario(t testing.TB, start func(testing.TB, ...string) *daemon, args ...string) *scenario {
	return &scenario{statsClient: newStatsClient(t, start(t, args...)), t: t}
}

// setMany stores n keys prefix0..prefixN-1 with values of size bytes,
// pipelined with noreply, and waits until the server has taken them.
func (s *scenario) setMany(prefix string, n, size int, exp int) {
	val := bytes.Repeat([]byte("v"), size)
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "set %s%d 0 %d %d noreply\r\n%s\r\n", prefix, i, exp, size, val)
		if b.Len() > 256<<10 || i == n-1 {
			b.WriteString("mn\r\n")
			s.do(s.t, b.String(), "MN")
			b.Reset()
		}
	}
}

// getMany reads keys prefix0..prefixN-1, times times each, in one batch.
func (s *scenario) getMany(prefix string, n, times int) {
	var b bytes.Buffer
	for r := 0; r < times; r++ {
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "mg %s%d\r\n", prefix, i)
		}
	}
	b.WriteString("mn\r\n")
	s.do(s.t, b.String(), "MN")
}

// line sends a request and returns its one-line reply.
func (s *scenario) line(req string) string {
	s.t.Helper()
	fmt.Fprint(s.c, req)
	l, err := s.br.ReadString('\n')
	if err != nil {
		s.t.Fatalf("%q: %v", req, err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (s *scenario) num(sub, key string) int64 {
	s.t.Helper()
	v, ok := s.stats(s.t, sub)[key]
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		s.t.Fatalf("stats %s %s: %q", sub, key, v)
	}
	return n
}

// waitFor polls until cond holds, for at most d.
func (s *scenario) waitFor(what string, d time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// compare runs play on both servers and checks that the named counters
// (sub:key, sub "" for plain stats) came out equal.
func compare(t *testing.T, args []string, play func(s *scenario), keys ...string) {
	got := map[string]map[string]int64{}
	for _, srv := range bothServers {
		s := newScenario(t, srv.start, args...)
		play(s)
		got[srv.name] = map[string]int64{}
		for _, k := range keys {
			sub, key, _ := strings.Cut(k, ":")
			got[srv.name][k] = s.num(sub, key)
		}
	}
	for _, k := range keys {
		if m, c := got["memcached"][k], got["cachectl"][k]; m != c {
			t.Errorf("%s: memcached %d, cachectl %d", k, m, c)
		}
	}
	t.Logf("counters: %v", got["cachectl"])
}

// TestCrawlerReclaimsAsMemcached: expired items nobody reads leave the
// cache once the crawler passes; curr_items falls without a get.
func TestCrawlerReclaimsAsMemcached(t *testing.T) {
	t.Parallel()
	compare(t, []string{"-o", "no_lru_maintainer"}, func(s *scenario) {
		s.setMany("short", 500, 50, 1)
		s.setMany("long", 300, 50, 0)
		time.Sleep(2500 * time.Millisecond) // both clocks past the expiry
		if l := s.do(t, "lru_crawler crawl all\r\n", "OK"); len(l) != 1 {
			t.Fatalf("crawl: %q", l)
		}
		s.waitFor("the crawl to end", 10*time.Second, func() bool { return s.num("", "lru_crawler_running") == 0 })
	}, ":curr_items", ":crawler_reclaimed", ":expired_unfetched", ":crawler_items_checked",
		"items:items:2:crawler_reclaimed", ":get_expired", ":reclaimed")
}

// TestCrawlerReclaimsSegmentedAsMemcached: the same with the default
// segmented LRU, whose maintainer may reclaim some of the items first.
func TestCrawlerReclaimsSegmentedAsMemcached(t *testing.T) {
	t.Parallel()
	compare(t, nil, func(s *scenario) {
		s.setMany("short", 500, 50, 1)
		s.setMany("long", 300, 50, 0)
		time.Sleep(2500 * time.Millisecond)
		s.waitFor("a crawl to start", 10*time.Second, func() bool {
			return s.line("lru_crawler crawl all\r\n") == "OK"
		})
		s.waitFor("curr_items to fall to the live items", 10*time.Second, func() bool {
			st := s.stats(t, "")
			return st["curr_items"] == "300" && st["lru_crawler_running"] == "0"
		})
		st := s.stats(t, "")
		if r, c := atoi(st["reclaimed"]), atoi(st["crawler_reclaimed"]); r+c != 500 {
			t.Errorf("reclaimed %d + crawler_reclaimed %d, want 500", r, c)
		}
	}, ":curr_items", ":get_expired")
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// TestSegmentsAsMemcached: items read twice are rescued into WARM, the
// rest age out of HOT into COLD. (How far each maintainer got during the
// sets decides which segment a read finds an item in, hits_to_*, and
// whether an item read twice went through COLD on its way to WARM, which
// moves_to_cold counts.)
func TestSegmentsAsMemcached(t *testing.T) {
	t.Parallel()
	compare(t, nil, func(s *scenario) {
		s.setMany("once", 200, 50, 0)
		s.setMany("twice", 100, 50, 0)
		s.getMany("once", 200, 1)
		s.getMany("twice", 100, 2)
		// HOT's tail may be at most hot_max_factor times COLD's tail
		// age; with COLD empty that is nothing, so HOT drains within a
		// second or two of the clock ticking.
		s.waitFor("HOT to drain", 10*time.Second, func() bool {
			return s.num("items", "items:2:number_hot") == 0
		})
	}, "items:items:2:number_hot", "items:items:2:number_warm", "items:items:2:number_cold",
		"items:items:2:moves_to_warm", ":curr_items")
}

// TestSlabsReassignAsMemcached: a page of class 1 moves to class 5; its
// live items are rescued into the free chunks class 1 has left, the rest
// evicted, and the page counts move the same way.
func TestSlabsReassignAsMemcached(t *testing.T) {
	t.Parallel()
	compare(t, []string{"-o", "no_lru_maintainer,no_lru_crawler,slab_automove=0"}, func(s *scenario) {
		// 96-byte chunks, 10922 to a page: two full pages and part of a third.
		s.setMany("k", 25000, 10, 0)
		if l := s.do(t, "slabs reassign 1 5\r\n", "OK"); len(l) != 1 {
			t.Fatalf("reassign: %q", l)
		}
		s.waitFor("the move to end", 10*time.Second, func() bool {
			st := s.stats(t, "")
			return st["slabs_moved"] == "1" && st["slab_reassign_running"] == "0"
		})
	}, ":slabs_moved", ":curr_items", ":slab_reassign_rescues", ":slab_reassign_evictions_nomem",
		"slabs:1:total_pages", "slabs:5:total_pages", "slabs:1:used_chunks", "slabs:total_malloced")
}

// TestAutomoveAsMemcached: with slab_automove=2 every eviction asks for a
// page from a class with one to spare, so when the value sizes shift,
// pages follow them on both servers.
func TestAutomoveAsMemcached(t *testing.T) {
	t.Parallel()
	for _, srv := range bothServers {
		t.Run(srv.name, func(t *testing.T) {
			s := newScenario(t, srv.start, "-m", "8", "-o", "slab_automove=2,no_lru_crawler")
			s.setMany("small", 60000, 10, 0)
			for round := 0; round < 20; round++ {
				s.setMany(fmt.Sprint("big", round, "_"), 200, 5000, 0)
			}
			st := s.stats(t, "")
			if atoi(st["slabs_moved"]) < 1 {
				t.Errorf("slabs_moved %s after the sizes shifted", st["slabs_moved"])
			}
			pages := int64(0)
			for k, v := range s.stats(t, "slabs") {
				if strings.HasSuffix(k, ":chunk_size") && atoi(v) >= 5000 && atoi(v) < 8000 {
					id, _, _ := strings.Cut(k, ":")
					pages = s.num("slabs", id+":total_pages")
				}
			}
			if pages < 2 {
				t.Errorf("the 5 KB class holds %d pages, want the moved ones too", pages)
			}
			t.Logf("slabs_moved %s, 5 KB class pages %d", st["slabs_moved"], pages)
		})
	}
}
