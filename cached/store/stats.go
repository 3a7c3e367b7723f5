package store

// Counters are the store-wide counters of memcached's `stats`.
type Counters struct {
	CmdGet, CmdTouch, CmdFlush                                   uint64
	GetMisses, GetExpired, GetFlushed                            uint64
	DeleteMisses, IncrMisses, DecrMisses, CASMisses, TouchMisses uint64
	StoreTooLarge, StoreNoMemory                                 uint64
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
	OldestAge  uint32 // seconds since the LRU tail was last accessed
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
	OldestLive     uint32
	Classes        []ClassStats // only classes that have pages
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
		HashPower:     s.idx.power,
		HashBytes:     uint64(len(s.idx.buckets)+len(s.idx.old)) * 4,
		HashExpanding: s.idx.expanding(),
		OldestLive:    s.oldestLive,
	}
	for id := 1; id < len(s.classes); id++ {
		c := &s.classes[id]
		st.Evictions += c.st.Evicted
		st.Reclaimed += c.st.Reclaimed
		st.ExpiredUnfetch += c.st.ExpiredUnfetched
		st.EvictedUnfetch += c.st.EvictedUnfetched
		st.GetHits += c.st.GetHits
		st.CmdSet += c.st.CmdSet
		st.DeleteHits += c.st.DeleteHits
		st.IncrHits += c.st.IncrHits
		st.DecrHits += c.st.DecrHits
		st.CASHits += c.st.CASHits
		st.CASBadval += c.st.CASBadval
		st.TouchHits += c.st.TouchHits
		if c.pages == 0 && c.st == (classStats{}) {
			continue
		}
		cs := ClassStats{
			ID: id, ChunkSize: c.size, PerPage: c.perPage, Pages: c.pages,
			UsedChunks: c.used, FreeChunks: c.nfree + c.endLeft, FreeEnd: c.endLeft,
			Items: c.items, Requested: c.requested, classStats: c.st,
		}
		if c.lruTail != 0 {
			cs.OldestAge = now - s.word(c.lruTail, offTime)
		}
		st.Classes = append(st.Classes, cs)
	}
	return st
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

// Dump lists up to limit items of a class from the LRU head, as
// `stats cachedump` does: key, value length, absolute expiry (0 = never).
func (s *Store) Dump(class int, limit int, fn func(key []byte, nbytes uint32, exp int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if class <= 0 || class >= len(s.classes) {
		return
	}
	n := 0
	for ref := s.classes[class].lruHead; ref != 0 && (limit == 0 || n < limit); ref = s.word(ref, offNext) {
		fn(s.key(ref), s.word(ref, offNBytes), s.AbsTime(s.word(ref, offExp)))
		n++
	}
}
