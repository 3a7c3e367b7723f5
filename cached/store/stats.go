package store

// Counters are the store-wide counters of memcached's `stats`.
type Counters struct {
	CmdGet, CmdTouch, CmdFlush                                   uint64
	GetMisses, GetExpired, GetFlushed                            uint64
	DeleteMisses, IncrMisses, DecrMisses, CASMisses, TouchMisses uint64
	StoreTooLarge, StoreNoMemory                                 uint64
	LRUMaintainerJuggles                                         uint64 // maintainer rounds
	LRUCrawlerStarts                                             uint64 // crawls started
	// The slab mover's: memcached's slabs_moved, slab_reassign_*.
	SlabsMoved, SlabReassignRescues, SlabReassignChunkRescues uint64
	SlabReassignEvictionsNomem, SlabReassignInlineReclaim     uint64
	SlabReassignBusyItems                                     uint64
	// SlabReassignBusyDeletes counts items unlinked because a reply kept
	// pointing into them through a thousand passes over the page.
	SlabReassignBusyDeletes uint64
}

// ClassStats is one slab class as `stats slabs` and `stats items` show it.
type ClassStats struct {
	ID         int
	ChunkSize  uint32
	PerPage    uint32
	Pages      uint32
	UsedChunks uint32
	FreeChunks uint32 // released plus never used
	FreeEnd    uint32 // never used, at the end of the newest page
	Items      uint32
	Requested  uint64
	// Items per segment: memcached's number_hot, number_warm,
	// number_cold, number_temp. Flat, every item is cold.
	NumberHot, NumberWarm, NumberCold, NumberTemp uint32
	OldestAge                                     uint32 // age: seconds since COLD's tail was last accessed
	AgeHot, AgeWarm                               uint32 // the same for HOT's and WARM's tails
	classStats
}

// Stats is a consistent snapshot of the store.
type Stats struct {
	Counters
	CurrItems      uint64
	TotalItems     uint64
	Bytes          uint64
	LimitMaxbytes  uint64
	TotalMalloced  uint64
	HashPower      uint32
	HashBytes      uint64
	HashExpanding  bool
	Evictions      uint64
	Reclaimed      uint64
	ExpiredUnfetch uint64
	EvictedUnfetch uint64
	EvictedActive  uint64
	OldestLive     uint32
	// Sums over classes of the LRU counters memcached's `stats` shows.
	CrawlerReclaimed, CrawlerItemsChecked, LRUTailReflocked  uint64
	MovesToCold, MovesToWarm, MovesWithinLRU, DirectReclaims uint64
	// LRUBumpsDropped is memcached's lru_bumps_dropped: always 0 here,
	// because a bump into WARM is done at once under the store lock
	// instead of through a bounded queue that can overflow.
	LRUBumpsDropped     uint64
	LRUCrawlerRunning   bool         // lru_crawler_running
	SlabReassignRunning bool         // slab_reassign_running
	SlabGlobalPagePool  uint32       // slab_global_page_pool: pages in the pool
	Classes             []ClassStats // only classes that have pages
	// Sums over classes.
	GetHits, CmdSet, DeleteHits, IncrHits, DecrHits, CASHits, CASBadval, TouchHits uint64
}

// Stats returns a snapshot of all counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	st := Stats{
		Counters:      s.st,
		CurrItems:     uint64(s.idx.count),
		TotalItems:    s.total,
		Bytes:         s.bytes,
		LimitMaxbytes: s.cfg.MemoryLimit,
		TotalMalloced: s.arena.malloced,
		HashPower:     s.idx.level(),
		HashBytes:     s.idx.bytes(),
		HashExpanding: s.idx.expanding(),
		OldestLive:    s.oldestLive,

		LRUCrawlerRunning:   s.crawl.running,
		SlabReassignRunning: s.mover.running,
		SlabGlobalPagePool:  uint32(len(s.arena.pool)),
	}
	for id := 1; id < len(s.classes); id++ {
		c := &s.classes[id]
		st.addClass(&c.st)
		if c.pages == 0 && c.st == (classStats{}) {
			continue
		}
		st.Classes = append(st.Classes, s.classStats(id, now))
	}
	return st
}

// addClass adds one class's counters to the store-wide sums.
func (st *Stats) addClass(c *classStats) {
	st.Evictions += c.Evicted
	st.Reclaimed += c.Reclaimed
	st.ExpiredUnfetch += c.ExpiredUnfetched
	st.EvictedUnfetch += c.EvictedUnfetched
	st.EvictedActive += c.EvictedActive
	st.CrawlerReclaimed += c.CrawlerReclaimed
	st.CrawlerItemsChecked += c.CrawlerItemsChecked
	st.LRUTailReflocked += c.LRUTailReflocked
	st.MovesToCold += c.MovesToCold
	st.MovesToWarm += c.MovesToWarm
	st.MovesWithinLRU += c.MovesWithinLRU
	st.DirectReclaims += c.DirectReclaims
	st.GetHits += c.GetHits
	st.CmdSet += c.CmdSet
	st.DeleteHits += c.DeleteHits
	st.IncrHits += c.IncrHits
	st.DecrHits += c.DecrHits
	st.CASHits += c.CASHits
	st.CASBadval += c.CASBadval
	st.TouchHits += c.TouchHits
}

// classStats snapshots one class (lock held).
func (s *Store) classStats(id int, now uint32) ClassStats {
	c := &s.classes[id]
	cs := ClassStats{
		ID: id, ChunkSize: c.size, PerPage: c.perPage, Pages: c.pages,
		UsedChunks: c.used, FreeChunks: c.nfree + c.endLeft, FreeEnd: c.endLeft,
		Items: c.items(), Requested: c.requested(), classStats: c.st,
		NumberHot: c.lru[segHot].items, NumberWarm: c.lru[segWarm].items,
		NumberCold: c.lru[segCold].items, NumberTemp: c.lru[segTemp].items,
	}
	age := func(seg segment) uint32 {
		if t := c.lru[seg].tail; t != 0 {
			return now - s.word(t, offTime)
		}
		return 0
	}
	cs.OldestAge, cs.AgeHot, cs.AgeWarm = age(segCold), age(segHot), age(segWarm)
	return cs
}

// ResetStats zeroes the counters (`stats reset`); items are untouched.
func (s *Store) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = Counters{}
	s.total = 0
	for i := range s.classes {
		s.classes[i].st = classStats{}
	}
}

// Dump lists up to limit items of a class from the head of its COLD LRU,
// as `stats cachedump` does (memcached shows only COLD, so with the
// segmented LRU fresh items appear once they have aged out of HOT): key,
// value length, absolute expiry (0 = never).
func (s *Store) Dump(class int, limit int, fn func(key []byte, nbytes uint32, exp int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if class <= 0 || class >= len(s.classes) {
		return
	}
	n := 0
	for ref := s.classes[class].lru[segCold].head; ref != 0 && (limit == 0 || n < limit); ref = s.word(ref, offNext) {
		fn(s.key(ref), s.nbytes(ref), s.AbsTime(s.exp(ref)))
		n++
	}
}
