package store

import (
	"time"
)

// The LRU crawler is memcached's: it walks chosen LRU segments from tail to
// head, one item per segment in turn, reclaiming expired and flushed items
// nobody asks for, so curr_items falls on an idle cache. A crawl runs on the
// store's crawler goroutine (crawls of the expiry kind) or in the caller's
// goroutine (Metadump). Only one crawl runs at a time, as in memcached.
//
// memcached parks a dummy item in the list as its cursor; here the cursor
// is the ref of the next item to look at, and lruUnlink moves it up when
// that item leaves its list, so the walk survives any change to the list.

// CrawlResult is the outcome of starting a crawl, as memcached's
// crawler_result_type: the protocol layer words OK, BUSY, BADCLASS.
type CrawlResult uint8

const (
	CrawlOK         CrawlResult = iota
	CrawlRunning                // another crawl is running (BUSY)
	CrawlBadClass               // a class id out of range (BADCLASS)
	CrawlNotStarted             // nothing to start (every list already crawled)
	CrawlDisabled               // the crawler is off (lru_crawler disable)
)

type crawlKind uint8

const (
	crawlExpired    crawlKind = iota // lru_crawler crawl
	crawlAutoExpire                  // started by the LRU maintainer
	crawlMetadump
)

const (
	// crawlsPerSleep is memcached's crawls_persleep: items between sleeps.
	crawlsPerSleep = 1000
	// crawlBatch is how many items one hold of the store lock examines.
	crawlBatch = 64
	// maxClassID is the largest id `lru_crawler crawl` accepts
	// (MAX_NUMBER_OF_SLAB_CLASSES - 1), whether or not the class exists.
	maxClassID = 63
)

// crawlCursor is the crawl of one segment of one class.
type crawlCursor struct {
	on        bool
	next      uint32 // the next item to examine; 0 = reached the head
	remaining uint32 // memcached's remaining: 0 = all, else items + 1
	checked   uint64
	reclaimed uint64
	unfetched uint64
}

// crawler is the store's crawl state (guarded by the store lock).
type crawler struct {
	enabled bool
	running bool // lru_crawler_running
	kind    crawlKind
	lists   int    // segments still being crawled
	sleep   uint32 // lru_crawler_sleep, microseconds per crawlsPerSleep items
	tocrawl uint32 // lru_crawler_tocrawl: items per segment, 0 = all
	// blockAutoUntil holds automatic crawls off for a minute after a
	// manual one was refused, as memcached's block_ae_until.
	blockAutoUntil uint32
	auto           autoCrawl
	wake           chan struct{}
	bg             *background
}

// crawlTodo marks the segments to crawl, by class id up to maxClassID.
type crawlTodo [][numSegments]bool

// crawlTarget names every segment of the classes to crawl; nil = all.
func crawlTarget(ids []int) (crawlTodo, bool) {
	todo := make(crawlTodo, maxClassID+1)
	all := [numSegments]bool{true, true, true, true}
	if ids == nil {
		for id := smallestCls; id <= maxClassID; id++ {
			todo[id] = all
		}
		return todo, true
	}
	for _, id := range ids {
		if id < smallestCls || id > maxClassID {
			return nil, false
		}
		todo[id] = all
	}
	return todo, true
}

// Crawl starts an expiry crawl of the given classes (nil = all), every
// segment of each, as `lru_crawler crawl <ids|all>`: the crawler goroutine
// reclaims what has expired, at most lru_crawler_tocrawl items per
// segment when that is set.
func (s *Store) Crawl(ids []int) CrawlResult {
	todo, ok := crawlTarget(ids)
	if !ok {
		return CrawlBadClass
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startCrawl(todo, s.crawl.tocrawl, crawlExpired)
}

// startCrawl is memcached's lru_crawler_start (lock held).
func (s *Store) startCrawl(todo crawlTodo, remaining uint32, kind crawlKind) CrawlResult {
	cr := &s.crawl
	if !cr.enabled {
		return CrawlDisabled
	}
	now := s.Now()
	if cr.running && !(kind == crawlAutoExpire && cr.kind == crawlAutoExpire) {
		cr.blockAutoUntil = now + 60
		return CrawlRunning
	}
	if kind == crawlAutoExpire && cr.blockAutoUntil > now {
		return CrawlRunning
	}
	if !cr.running {
		cr.kind = kind
		if kind == crawlAutoExpire {
			cr.auto.begin(now)
		}
	}
	starts := 0
	for id := smallestCls; id < len(todo); id++ {
		for seg := segHot; seg < numSegments; seg++ {
			if !todo[id][seg] {
				continue
			}
			if id >= len(s.classes) {
				// memcached's table has every id; a segment of a class
				// that does not exist starts and is done at once.
				starts++
				continue
			}
			if s.startSegment(uint8(id), seg, remaining) {
				starts++
			}
		}
	}
	if starts == 0 {
		return CrawlNotStarted
	}
	cr.running = true
	s.st.LRUCrawlerStarts++
	if cr.lists == 0 {
		s.finishCrawl()
	}
	if kind != crawlMetadump {
		select {
		case cr.wake <- struct{}{}:
		default:
		}
	}
	return CrawlOK
}

// startSegment puts a cursor at a segment's tail unless it is already
// being crawled (an automatic crawl may add segments to a running one).
func (s *Store) startSegment(id uint8, seg segment, remaining uint32) bool {
	cur := &s.classes[id].crawl[seg]
	if cur.on {
		return false
	}
	l := &s.classes[id].lru[seg]
	if remaining == capRemaining {
		remaining = l.items
	}
	*cur = crawlCursor{on: true, next: l.tail, remaining: remaining}
	if remaining != 0 {
		cur.remaining++ // memcached's "n + 1": the last decrement ends it
	}
	s.crawl.lists++
	return true
}

// crawlStep examines the next item of one segment's crawl (lock held): it
// reclaims a dead item, or hands a live one to emit (metadump).
func (s *Store) crawlStep(id uint8, seg segment, now uint32, emit func(ref uint32)) {
	c := &s.classes[id]
	cur := &c.crawl[seg]
	ref := cur.next
	if ref == 0 || (cur.remaining != 0 && cur.remaining-1 < 1) {
		s.crawlDone(id, seg, now)
		return
	}
	if cur.remaining != 0 {
		cur.remaining--
	}
	cur.next = s.word(ref, offPrev)
	if s.isPinned(ref) {
		return
	}
	cur.checked++
	if s.crawl.kind == crawlMetadump {
		if !s.deadOnTail(ref, now) {
			emit(ref)
		}
		return
	}
	s.crawlExpire(id, cur, ref, seg, now)
}

// crawlExpire is memcached's crawler_expired_eval.
func (s *Store) crawlExpire(id uint8, cur *crawlCursor, ref uint32, seg segment, now uint32) {
	exp := s.exp(ref)
	flushed := s.flushed(ref, now)
	if (exp != 0 && exp < now) || flushed {
		cur.reclaimed++
		if s.iflags(ref)&flagFetched == 0 && !flushed {
			cur.unfetched++
		}
		s.unlink(ref, hashKey(s.key(ref)))
		if s.crawl.kind == crawlAutoExpire {
			s.crawl.auto.stats[id][seg].reclaimed++
		}
		return
	}
	if s.crawl.kind == crawlAutoExpire {
		s.crawl.auto.stats[id][seg].see(exp, now)
	}
}

// crawlDone ends one segment's crawl and publishes its counters, which
// memcached only adds to stats items when the segment is finished.
func (s *Store) crawlDone(id uint8, seg segment, now uint32) {
	c := &s.classes[id]
	cur := &c.crawl[seg]
	c.st.CrawlerReclaimed += cur.reclaimed
	c.st.ExpiredUnfetched += cur.unfetched
	c.st.CrawlerItemsChecked += cur.checked
	*cur = crawlCursor{}
	if s.crawl.kind == crawlAutoExpire {
		st := &s.crawl.auto.stats[id][seg]
		st.end, st.complete = now, true
	}
	if s.crawl.lists--; s.crawl.lists == 0 {
		s.finishCrawl()
	}
}

func (s *Store) finishCrawl() { s.crawl.running = false }

// crawlUnlinked keeps a crawl's cursor valid when its next item leaves
// its list (lock held; called only while a crawl runs).
func (s *Store) crawlUnlinked(ref, prev uint32) {
	cur := &s.classes[s.class(ref)].crawl[s.segmentOf(ref)]
	if cur.on && cur.next == ref {
		cur.next = prev
	}
}

// crawlRound runs up to n crawl steps, one per crawled segment in turn
// (lock held). It returns the steps taken; 0 when the crawl is over.
func (s *Store) crawlRound(n int, emit func(ref uint32)) int {
	steps := 0
	now := s.Now()
	for steps < n && s.crawl.lists > 0 {
		before := steps
		for id := smallestCls; id < len(s.classes) && steps < n; id++ {
			for seg := segHot; seg < numSegments && steps < n; seg++ {
				if s.classes[id].crawl[seg].on {
					s.crawlStep(uint8(id), seg, now, emit)
					steps++
				}
			}
		}
		if steps == before {
			break // every crawled segment has ended
		}
	}
	return steps
}

// runCrawler is the crawler goroutine: it sleeps until a crawl starts,
// then works through it in batches, pausing lru_crawler_sleep every
// crawlsPerSleep items as memcached does.
func (s *Store) runCrawler(b *background) {
	defer close(b.done)
	for {
		select {
		case <-b.stop:
			return
		case <-s.crawl.wake:
		}
		if !s.crawlUntilDone(b.stop) {
			return
		}
	}
}

// crawlUntilDone runs the current expiry crawl to its end; false when the
// store is stopping.
func (s *Store) crawlUntilDone(stop <-chan struct{}) bool {
	sinceSleep := 0
	for {
		s.mu.Lock()
		if s.crawl.kind == crawlMetadump {
			s.mu.Unlock()
			return true
		}
		n := s.crawlRound(crawlBatch, nil)
		sleep := time.Duration(s.crawl.sleep) * time.Microsecond
		s.mu.Unlock()
		if n == 0 {
			return true
		}
		if sinceSleep += n; sinceSleep < crawlsPerSleep || sleep == 0 {
			select {
			case <-stop:
				return false
			default:
			}
			continue
		}
		sinceSleep = 0
		select {
		case <-stop:
			return false
		case <-time.After(sleep):
		}
	}
}
