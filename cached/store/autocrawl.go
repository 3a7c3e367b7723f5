package store

import "errors"

// Automatic crawls are memcached's lru_maintainer_crawler_check: once a
// second the maintainer looks at what the last expiry crawl of each
// segment saw — how many of its items expire in each of the next sixty
// minutes — and crawls again soon when at least 1% of them are about to
// expire, else waits a minute longer each time, up to an hour.

// maxAutoCrawlWait is memcached's MAX_MAINTCRAWL_WAIT.
const maxAutoCrawlWait = 60 * 60

// crawlStats is memcached's crawlerstats_t for one segment.
type crawlStats struct {
	seen, noexp, ttlHourPlus, reclaimed uint64
	histo                               [61]uint64 // live items by minutes left
	start, end                          uint32
	complete                            bool
}

// see records a live item's expiry, as crawler_expired_eval does.
func (st *crawlStats) see(exp, now uint32) {
	st.seen++
	switch {
	case exp == 0:
		st.noexp++
	case exp-now > 3599:
		st.ttlHourPlus++
	default:
		if b := (exp - now) / 60; b <= 60 {
			st.histo[b]++
		}
	}
}

// autoCrawl is the maintainer's crawl schedule, per class and segment.
type autoCrawl struct {
	stats     [][numSegments]crawlStats
	next      [][numSegments]uint32 // do not crawl before
	wait      [][numSegments]uint32 // seconds between crawls
	lastCheck uint32
}

func newAutoCrawl(classes int) autoCrawl {
	return autoCrawl{
		stats: make([][numSegments]crawlStats, classes),
		next:  make([][numSegments]uint32, classes),
		wait:  make([][numSegments]uint32, classes),
	}
}

// begin clears the statistics for a new automatic crawl.
func (a *autoCrawl) begin(now uint32) {
	for i := range a.stats {
		for seg := range a.stats[i] {
			a.stats[i][seg] = crawlStats{start: now}
		}
	}
}

// reschedule sets a segment's next crawl from what its last crawl saw.
func (a *autoCrawl) reschedule(id int, seg segment, now uint32) {
	st := &a.stats[id][seg]
	wait := &a.wait[id][seg]
	lowWatermark := (st.seen-st.noexp)/100 + 1
	var available uint64
	for x := uint32(0); x < 60; x++ {
		available += st.histo[x]
		if available > lowWatermark {
			if *wait < x*60 {
				*wait += 60
			} else if *wait >= 60 {
				*wait -= 60
			}
			break
		}
	}
	if available == 0 {
		*wait += 60
	}
	*wait = min(*wait, maxAutoCrawlWait)
	a.next[id][seg] = now + *wait + 5
	st.complete = false
}

// autoCrawlCheck starts an automatic crawl of every segment that is due
// (lock held; the maintainer calls it at most once a second).
func (s *Store) autoCrawlCheck(now uint32) {
	a := &s.crawl.auto
	if !s.crawl.enabled || a.lastCheck == now {
		return
	}
	a.lastCheck = now
	var todo crawlTodo
	var limit uint32
	for id := smallestCls; id < len(s.classes); id++ {
		for seg := segHot; seg < numSegments; seg++ {
			if a.stats[id][seg].complete {
				a.reschedule(id, seg, now)
			}
			if now <= a.next[id][seg] {
				continue
			}
			if todo == nil {
				todo = make(crawlTodo, len(s.classes))
			}
			todo[id][seg] = true
			limit = max(limit, s.classes[id].lru[seg].items)
			a.next[id][seg] = now + 5 // the shortest retry
		}
	}
	if todo == nil {
		return
	}
	if tc := s.crawl.tocrawl; tc != 0 && tc < limit {
		limit = tc
	}
	s.startCrawl(todo, limit, crawlAutoExpire)
}

// Errors of the crawler controls, as memcached's replies name them.
var (
	ErrCrawlerRunning = errors.New("failed to start lru crawler thread")
	ErrCrawlerSleep   = errors.New("sleep must be one second or less")
)

// EnableCrawler starts the crawler (`lru_crawler enable`); it fails when
// it already runs, as memcached's does.
func (s *Store) EnableCrawler() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crawl.enabled {
		return ErrCrawlerRunning
	}
	s.crawl.enabled = true
	s.startCrawler()
	return nil
}

// DisableCrawler stops the crawler (`lru_crawler disable`). A crawl in
// progress ends where it is, its counters published.
func (s *Store) DisableCrawler() {
	s.mu.Lock()
	s.crawl.enabled = false
	b := s.crawl.bg
	s.crawl.bg = nil
	s.mu.Unlock()
	b.halt()
	s.abortCrawl()
}

// SetCrawlerSleep sets lru_crawler_sleep in microseconds (at most 1 s).
func (s *Store) SetCrawlerSleep(us uint32) error {
	if us > 1_000_000 {
		return ErrCrawlerSleep
	}
	s.mu.Lock()
	s.crawl.sleep = us
	s.mu.Unlock()
	return nil
}

// SetCrawlerToCrawl sets lru_crawler_tocrawl: items per segment, 0 = all.
func (s *Store) SetCrawlerToCrawl(n uint32) {
	s.mu.Lock()
	s.crawl.tocrawl = n
	s.mu.Unlock()
}

// startCrawler starts the crawler goroutine (lock held).
func (s *Store) startCrawler() {
	if s.crawl.bg != nil || s.noBackground {
		return
	}
	b := &background{stop: make(chan struct{}), done: make(chan struct{})}
	s.crawl.bg = b
	go s.runCrawler(b)
}
