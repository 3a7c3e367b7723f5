package store

// The LRU is memcached's segmented design. Each class has four lists:
// new items enter HOT (or TEMP when their TTL is short), items read twice
// are marked active and rescued into WARM, and everything else drains into
// COLD, whose tail is the eviction candidate. The background maintainer
// (maintainer.go) keeps HOT and WARM within their share of the class, so a
// scan of one-off reads never pushes the working set out.
//
// With LRUSegmented off every item lives in COLD and a read simply moves it
// to the head (at most once per updateInterval): memcached's flat LRU.

// segment is an LRU within a class: memcached's HOT_LRU .. TEMP_LRU.
type segment uint8

const (
	segHot segment = iota
	segWarm
	segCold
	segTemp
	numSegments
)

// lruList is one segment of a class: a doubly linked list of refs, head =
// most recently linked, and the accounted bytes of its items
// (memcached's sizes_bytes, which the HOT and WARM limits are taken from).
type lruList struct {
	head, tail uint32
	items      uint32
	bytes      uint64
}

// pullFlags select what pullTail may do, as memcached's LRU_PULL_* flags.
type pullFlags uint8

const (
	pullEvict pullFlags = 1 << iota // COLD: evict the tail when nothing expired
)

func (s *Store) segmentOf(ref uint32) segment { return segment(s.word(ref, offLen) >> segShift & 3) }

// lruLink puts an item of t bytes (totalOf, which the caller has at hand)
// at the head of a segment of its class.
func (s *Store) lruLink(ref uint32, seg segment, t uint64) {
	l := &s.classes[s.class(ref)].lru[seg]
	s.setWord(ref, offLen, s.word(ref, offLen)&^(3<<segShift)|uint32(seg)<<segShift)
	s.setWord(ref, offPrev, 0)
	s.setWord(ref, offNext, l.head)
	if l.head != 0 {
		s.setWord(l.head, offPrev, ref)
	}
	l.head = ref
	if l.tail == 0 {
		l.tail = ref
	}
	l.items++
	l.bytes += t
}

// lruUnlink takes an item of t bytes out of its segment.
func (s *Store) lruUnlink(ref uint32, t uint64) {
	l := &s.classes[s.class(ref)].lru[s.segmentOf(ref)]
	prev, next := s.word(ref, offPrev), s.word(ref, offNext)
	if s.crawl.lists > 0 {
		s.crawlUnlinked(ref, prev)
	}
	if prev != 0 {
		s.setWord(prev, offNext, next)
	} else {
		l.head = next
	}
	if next != 0 {
		s.setWord(next, offPrev, prev)
	} else {
		l.tail = prev
	}
	l.items--
	l.bytes -= t
}

func (s *Store) lruMove(ref uint32, seg segment) {
	t := s.totalOf(ref)
	s.lruUnlink(ref, t)
	s.lruLink(ref, seg, t)
}

// newSegment is where a freshly linked item goes, as memcached's
// do_item_alloc decides: a TTL within temporary_ttl goes to TEMP (the
// unsigned difference keeps never-expiring and already-expired items out,
// as memcached's rel_time_t arithmetic does), else HOT, or COLD when flat.
func (s *Store) newSegment(exp, now uint32) segment {
	switch {
	case s.cfg.TempLRU && exp-now <= s.cfg.TemporaryTTL:
		return segTemp
	case s.cfg.LRUSegmented:
		return segHot
	}
	return segCold
}

// bump marks an item read and refreshes its LRU position (memcached's
// do_item_bump). Segmented, a first read only sets FETCHED; a second read
// marks the item ACTIVE, which the maintainer turns into a move to WARM,
// except in COLD, where the item is rescued into WARM at once (memcached
// queues that move for its maintainer thread; here it happens under the
// lock already held, so no bump is ever dropped).
func (s *Store) bump(ref uint32, now uint32) {
	if !s.cfg.LRUSegmented {
		s.setIFlag(ref, flagFetched)
		s.update(ref, now)
		return
	}
	f := s.iflags(ref)
	switch {
	case f&flagActive != 0:
	case f&flagFetched == 0:
		s.setIFlag(ref, flagFetched)
	default:
		s.setIFlag(ref, flagActive)
		if s.segmentOf(ref) != segCold {
			s.setWord(ref, offTime, now)
		} else {
			s.update(ref, now)
		}
	}
}

// update refreshes an item's access time (memcached's do_item_update):
// segmented, an active COLD item moves to WARM; flat, the item moves to
// the head at most once per updateInterval.
func (s *Store) update(ref uint32, now uint32) {
	if s.cfg.LRUSegmented {
		s.setWord(ref, offTime, now)
		if s.segmentOf(ref) == segCold && s.iflags(ref)&flagActive != 0 {
			s.clearIFlag(ref, flagActive)
			// memcached counts this rescue as a move to WARM too.
			s.classes[s.class(ref)].st.MovesToWarm++
			s.lruMove(ref, segWarm)
		}
		return
	}
	if s.word(ref, offTime) < now-updateInterval {
		s.setWord(ref, offTime, now)
		s.lruMove(ref, s.segmentOf(ref))
	}
}

// countHit records a read hit in the segment the item was found in
// (memcached's hits_to_hot .. hits_to_temp).
func (c *classStats) countHit(seg segment) {
	c.HitsToSegment[seg]++
}
