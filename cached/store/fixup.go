package store

import (
	"fmt"
	"slices"
)

// fixup rebuilds a store from the arena a previous run saved: memcached's
// restart_fixup. Refs are offsets into the mapping, so nothing needs
// relocating; what is rebuilt is everything that lived in Go memory.
//
// Each LRU segment is walked from its saved tail through the items' own
// links, in place, rather than by reading every chunk of every page as
// memcached does: a continuation chunk of a large item is value bytes with
// no header, so a page walk cannot tell one whose bytes happen to look
// like an item from a real item, and a client could plant such a value.
// Only what the lists reach is an item; the chunks it reaches are marked,
// and the pages are then walked for the rest, which becomes free.
//
// Nothing in the file is trusted: every ref must land on a chunk of its
// class, every item must be the linked item its list says and fit its
// chunks, and nothing may be reached twice. Any failure leaves the store
// to be reset cold, and a panic reading the memory counts as one.
func (s *Store) fixup(st *savedState) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading the item memory: %v", r)
		}
	}()
	m, err := s.adoptPages(st)
	if err != nil {
		return err
	}
	s.idx.release()
	s.idx = newIndex(st.hashPower, !s.cfg.NoHugePages)
	for id := smallestCls; id < len(s.classes); id++ {
		if sc := st.classes[uint8(id)]; sc != nil {
			if err := s.relinkClass(m, uint8(id), sc.tails); err != nil {
				return err
			}
		}
	}
	for id := smallestCls; id < len(s.classes); id++ {
		s.freeUnreached(m, uint8(id))
	}
	s.started = st.started
	s.casSeq, s.oldestCAS, s.oldestLive = st.casSeq, st.oldestCAS, st.oldestLive
	// memcached starts its hash table at the saved size, so refilling it
	// does not double it again and again; stats settings then show it.
	s.cfg.HashPower = st.hashPower
	return nil
}

// chunkMap locates chunks in the saved page table and remembers which the
// LRU walk reached.
type chunkMap struct {
	owner []uint8    // by page: its class, poolOwner, or 0 (none)
	pos   []uint32   // by page: its place in its class's page list
	seen  [][]uint64 // by class: a bit per chunk of its pages, in page-list order
}

const poolOwner = 0xff // above any class id

// adoptPages checks the page table and hands each class its pages.
func (s *Store) adoptPages(st *savedState) (*chunkMap, error) {
	a := s.arena
	if st.nextPage < 1 || st.nextPage > a.maxPages {
		return nil, fmt.Errorf("%d pages in use, the mapping holds %d", st.nextPage-1, a.maxPages)
	}
	m := &chunkMap{owner: make([]uint8, st.nextPage), pos: make([]uint32, st.nextPage), seen: make([][]uint64, len(s.classes))}
	claim := func(owner uint8, pages []uint32) error {
		for i, p := range pages {
			if p == 0 || p >= st.nextPage || m.owner[p] != 0 {
				return fmt.Errorf("page %d of class %d is out of range or owned twice", p, owner)
			}
			m.owner[p], m.pos[p] = owner, uint32(i)
		}
		return nil
	}
	ids := make([]uint8, 0, len(st.classes))
	for id := range st.classes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := claim(id, st.classes[id].pages); err != nil {
			return nil, err
		}
	}
	if err := claim(poolOwner, st.pool); err != nil {
		return nil, err
	}
	for p := uint32(1); p < st.nextPage; p++ {
		if m.owner[p] == 0 {
			return nil, fmt.Errorf("page %d has no owner", p)
		}
	}
	a.nextPage, a.pool = st.nextPage, st.pool
	a.malloced = uint64(st.nextPage-1) * uint64(a.pageSize)
	for _, id := range ids {
		sc, c := st.classes[id], &s.classes[id]
		c.pages, c.pageList = uint32(len(sc.pages)), sc.pages
		for _, p := range sc.pages {
			// An item's class is its page's (item.go): the table lives in
			// Go memory and is rebuilt here.
			s.pageClass[p] = id
		}
		m.seen[id] = make([]uint64, (uint64(c.pages)*uint64(c.perPage)+63)/64)
		if sc.endLeft == 0 {
			continue
		}
		if i, ok := m.locate(s, sc.endRef, id); !ok || i%c.perPage+sc.endLeft != c.perPage {
			return nil, fmt.Errorf("class %d carves %d chunks from ref %d, which does not end a page of it", id, sc.endLeft, sc.endRef)
		}
		c.endRef, c.endLeft = sc.endRef, sc.endLeft
	}
	return m, nil
}

// locate returns the index of the chunk at ref among class id's chunks.
func (m *chunkMap) locate(s *Store, ref uint32, id uint8) (uint32, bool) {
	off := uint64(ref) * chunkAlign
	ps := uint64(s.arena.pageSize)
	page := off / ps
	if page == 0 || page >= uint64(len(m.owner)) || m.owner[page] != id {
		return 0, false
	}
	c := &s.classes[id]
	in := off % ps
	if in%uint64(c.size) != 0 || in/uint64(c.size) >= uint64(c.perPage) {
		return 0, false
	}
	return m.pos[page]*c.perPage + uint32(in/uint64(c.size)), true
}

// mark records the chunk at ref as reached; false if it was already.
func (m *chunkMap) mark(s *Store, ref uint32, id uint8) bool {
	i, ok := m.locate(s, ref, id)
	if !ok || m.seen[id][i/64]&(1<<(i%64)) != 0 {
		return false
	}
	m.seen[id][i/64] |= 1 << (i % 64)
	return true
}

// relinkClass walks each saved segment from its tail to its head and links
// every item again at the head of its segment, which keeps the order. With
// the LRU now flat (or without temp_lru) the segments fold together, the
// oldest first.
func (s *Store) relinkClass(m *chunkMap, id uint8, tails [numSegments]uint32) error {
	for _, seg := range [...]segment{segCold, segWarm, segHot, segTemp} {
		next := uint32(0)
		for ref := tails[seg]; ref != 0; {
			hv, err := s.checkItem(m, id, seg, ref, next)
			if err != nil {
				return fmt.Errorf("class %d, LRU %d: %w", id, seg, err)
			}
			prev := s.word(ref, offPrev)
			t := s.totalOf(ref)
			s.lruLink(ref, s.restoredSegment(seg), t)
			s.indexInsert(ref, hv)
			s.bytes += t
			s.total++
			s.countSize(ref, 1)
			next, ref = ref, prev
		}
	}
	return nil
}

// maxKey is memcached's KEY_MAX_LENGTH.
const maxKey = 250

// checkItem makes sure ref is the linked item of segment seg whose
// successor is next, that it fits its chunks, and claims its continuation
// chunks. It returns the key's hash.
func (s *Store) checkItem(m *chunkMap, id uint8, seg segment, ref, next uint32) (uint64, error) {
	if !m.mark(s, ref, id) {
		return 0, fmt.Errorf("ref %d is not a chunk of the class, or is reached twice", ref)
	}
	f := s.iflags(ref)
	if f&flagLinked == 0 || s.class(ref) != id || s.segmentOf(ref) != seg || s.word(ref, offNext) != next {
		return 0, fmt.Errorf("ref %d is not the linked item its list says", ref)
	}
	nk := s.nkey(ref)
	meta := s.meta(ref)
	if nk == 0 || nk > maxKey || meta.Len < 0 || uint64(meta.Len) > uint64(s.cfg.ItemSizeMax) {
		return 0, fmt.Errorf("item at ref %d has a %d-byte key and a %d-byte value", ref, nk, meta.Len)
	}
	// The layout the sizes call for must be the one the item has: then
	// its key and value lie inside its chunks.
	class, extra := s.layout(nk, uint32(meta.Len), meta.Flags, s.hasExp(ref))
	if class != id || (extra > 0) != (f&flagChunked != 0) {
		return 0, fmt.Errorf("item at ref %d does not fit its chunk", ref)
	}
	last := uint8(len(s.classes) - 1)
	for i := uint32(0); i < extra; i++ {
		x := s.extraRef(ref, i)
		if !m.mark(s, x, last) {
			return 0, fmt.Errorf("chunk %d of the item at ref %d is not a free chunk of class %d", i+1, ref, last)
		}
		s.chunkHeads[x] = ref
	}
	key := s.key(ref)
	hv := hashKey(key)
	if s.find(key, hv) != 0 {
		return 0, fmt.Errorf("key %q is stored twice", key)
	}
	return hv, nil
}

// restoredSegment is where a saved item goes under the current LRU
// settings.
func (s *Store) restoredSegment(seg segment) segment {
	switch {
	case !s.cfg.LRUSegmented:
		return segCold
	case seg == segTemp && !s.cfg.TempLRU:
		return segHot
	}
	return seg
}

// freeUnreached puts every carved chunk of the class that no list reached
// on its free list: released chunks, and values that were still arriving.
func (s *Store) freeUnreached(m *chunkMap, id uint8) {
	c := &s.classes[id]
	step := c.size / chunkAlign
	for pi, p := range c.pageList {
		base := s.arena.pageRef(p)
		for i := uint32(0); i < c.perPage; i++ {
			n := uint32(pi)*c.perPage + i
			ref := base + i*step
			carved := c.endLeft == 0 || ref < c.endRef || ref >= c.endRef+c.endLeft*step
			if m.seen[id][n/64]&(1<<(n%64)) == 0 && carved {
				s.pushFree(id, ref)
			}
		}
	}
	c.used = c.pages*c.perPage - c.endLeft - c.nfree
}
