package store

// pullTries is how far up a segment's tail pullTail looks, as memcached's
// lru_pull_tail: only past expired items and items it must skip.
const pullTries = 5

// allocTries bounds the alloc/reclaim/evict rounds of one allocation, as
// memcached's do_item_alloc_pull.
const allocTries = 10

// chunk gets a chunk of a class the way memcached's do_item_alloc_pull
// does. Flat, the COLD tail is first searched for an expired or flushed
// item to reuse, so short-TTL churn recycles memory instead of taking new
// pages; segmented, that reclaim is the maintainer's job. When the class
// has no free chunk and no page can be had, the COLD tail is evicted (or,
// segmented and with nothing in COLD, HOT is pushed down into COLD first).
func (s *Store) chunk(class uint8, now uint32) (uint32, bool) {
	ref, ok := uint32(0), false
	i := 0
	for ; i < allocTries; i++ {
		if !s.cfg.LRUSegmented {
			s.pullTail(class, segCold, 0, 0, 0, now)
		}
		if ref, ok = s.allocChunk(class); ok {
			break
		}
		if s.pullTail(class, segCold, 0, pullEvict, 0, now) > 0 {
			continue
		}
		if !s.cfg.LRUSegmented {
			break
		}
		s.pullTail(class, segHot, 0, 0, 0, now)
	}
	c := &s.classes[class]
	c.st.DirectReclaims += uint64(i)
	if !ok {
		c.st.OutOfMemory++
	}
	return ref, ok
}

// pullTail is memcached's lru_pull_tail for one segment of a class: it
// reclaims expired and flushed items from the tail, then acts on the first
// live one — HOT and WARM send it down to COLD when the segment is over
// its share of totalBytes or its tail is older than maxAge (rescuing active
// items into WARM instead), COLD evicts it (pullEvict) or rescues it when
// active. It returns how many items it removed or moved.
func (s *Store) pullTail(class uint8, seg segment, totalBytes uint64, flags pullFlags, maxAge uint32, now uint32) int {
	c := &s.classes[class]
	removed := 0
	ref := c.lru[seg].tail
	for tries := pullTries; tries > 0 && ref != 0; tries-- {
		prev := s.word(ref, offPrev)
		if s.isPinned(ref) {
			// An operation still reads this item: it cannot be reused
			// yet, as memcached cannot reuse a referenced tail item.
			c.st.LRUTailReflocked++
			ref = prev
			continue
		}
		if s.deadOnTail(ref, now) {
			c.st.Reclaimed++
			if s.iflags(ref)&flagFetched == 0 {
				c.st.ExpiredUnfetched++
			}
			s.unlink(ref, hashKey(s.key(ref)))
			removed++
			ref = prev
			continue
		}
		n, stop := s.pullLive(class, ref, seg, totalBytes, flags, maxAge, now)
		removed += n
		if stop {
			break
		}
		ref = prev
	}
	return removed
}

// deadOnTail is memcached's reclaim test on the LRU tail: expired strictly
// before now (the lookup path treats exp == now as expired too) or flushed.
func (s *Store) deadOnTail(ref uint32, now uint32) bool {
	exp := s.exp(ref)
	return (exp != 0 && exp < now) || s.flushed(ref, now)
}

// pullLive acts on a live tail item; stop ends the tail walk.
func (s *Store) pullLive(class uint8, ref uint32, seg segment, totalBytes uint64, flags pullFlags, maxAge, now uint32) (int, bool) {
	c := &s.classes[class]
	switch seg {
	case segHot, segWarm:
		limit := totalBytes * uint64(s.cfg.HotLRUPct) / 100
		if seg == segWarm || limit == 0 {
			// memcached computes WARM's share when HOT's rounds to zero.
			limit = totalBytes * uint64(s.cfg.WarmLRUPct) / 100
		}
		if s.iflags(ref)&flagActive != 0 {
			s.clearIFlag(ref, flagActive)
			if seg == segWarm {
				// Active WARM items go back to WARM's head; the walk
				// goes on, as in memcached.
				c.st.MovesWithinLRU++
				s.lruMove(ref, segWarm)
				return 1, false
			}
			c.st.MovesToWarm++
			s.lruMove(ref, segWarm)
			return 1, true
		}
		if c.lru[seg].bytes > limit || now-s.word(ref, offTime) > maxAge {
			c.st.MovesToCold++
			s.lruMove(ref, segCold)
			return 1, true
		}
		return 0, true
	case segCold:
		switch {
		case flags&pullEvict != 0:
			if !s.cfg.Evictions {
				return 0, true
			}
			s.evict(class, ref, now)
			return 1, true
		case s.iflags(ref)&flagActive != 0 && s.cfg.LRUSegmented:
			c.st.MovesToWarm++
			s.clearIFlag(ref, flagActive)
			s.lruMove(ref, segWarm)
			return 1, true
		}
	}
	// TEMP is only ever searched for reclaims.
	return 0, true
}

// evict drops a live COLD tail item to make room, counting it as memcached.
func (s *Store) evict(class uint8, ref uint32, now uint32) {
	s.countEviction(class, ref, now)
	s.unlink(ref, hashKey(s.key(ref)))
	if s.mover.automove == 2 {
		// Every eviction asks for a page from any class with one to spare.
		s.reassign(-1, int(class))
	}
}

// countEviction counts and reports an item's eviction.
func (s *Store) countEviction(class uint8, ref uint32, now uint32) {
	s.reportEviction(ref, now)
	c := &s.classes[class]
	c.st.Evicted++
	c.st.EvictedTime = now - s.word(ref, offTime)
	if s.exp(ref) != 0 {
		c.st.EvictedNonzero++
	}
	f := s.iflags(ref)
	if f&flagFetched == 0 {
		c.st.EvictedUnfetched++
	}
	if f&flagActive != 0 {
		c.st.EvictedActive++
	}
}
