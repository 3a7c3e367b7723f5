package store

import "time"

// The slab page mover is memcached's slab rebalancer: it empties the oldest
// page of one class — rescuing live items into free chunks of the same
// class, dropping expired ones, evicting what does not fit — and gives the
// page to another class or to the global page pool. A goroutine owned by
// the store does the work a batch of chunks at a time under the lock.

// ReassignResult is memcached's reassign_result_type; the protocol layer
// words it (OK, BUSY, BADCLASS, NOSPARE, SAME). memcached 1.6.18 never
// answers NOTFULL or UNSAFE any more, so neither exists here.
type ReassignResult uint8

const (
	ReassignOK       ReassignResult = iota
	ReassignRunning                 // a move is in progress (BUSY)
	ReassignBadClass                // src or dst out of range
	ReassignNoSpare                 // src has fewer than two pages
	ReassignSame                    // src == dst
	ReassignDisabled                // slab_reassign is off
)

const (
	// moveBatch is how many chunk positions one hold of the lock visits,
	// and moveCopyBudget how many bytes it may copy: a batch of large
	// chunks stops after one or two, so clients wait tens of microseconds.
	moveBatch      = 16
	moveCopyBudget = 256 << 10
	// maxMoveBackoff caps the pause while a page waits for busy chunks,
	// as memcached's backoff_max of 1000 µs.
	maxMoveBackoff = time.Millisecond
)

// mover is the state of the page move in progress (lock held).
type mover struct {
	enabled   bool // slab_reassign
	running   bool // slab_reassign_running
	src, dst  int
	start     uint32 // ref of the page's first chunk
	pos       uint32 // next chunk position to visit
	completed []bool // positions already emptied
	busy      uint64 // busy chunks met in this pass over the page
	loops     int    // passes over the page that met busy chunks
	copied    uint32 // bytes copied in the current batch
	pickCur   int    // memcached's slabs_reassign_pick_any cursor

	// Counters of the move in progress, added to stats when it ends.
	rescues, chunkRescues, evictionsNomem, inlineReclaim uint64

	automove  int     // slab_automove: 0 off, 1 windowed, 2 on every eviction
	ratio     float64 // slab_automove_ratio
	window    uint32  // slab_automove_window
	auto      *automover
	lastCheck uint32
	wake      chan struct{}
	bg        *background
}

// Reassign starts moving a page from class src to class dst, as `slabs
// reassign`. src -1 picks any class with a spare page; dst 0 is the global
// page pool.
func (s *Store) Reassign(src, dst int) ReassignResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reassign(src, dst)
}

// reassign is memcached's do_slabs_reassign (lock held).
func (s *Store) reassign(src, dst int) ReassignResult {
	m := &s.mover
	switch {
	case !m.enabled:
		return ReassignDisabled
	case m.running:
		return ReassignRunning
	case src == dst:
		return ReassignSame
	}
	if src == -1 {
		src = s.pickAnySource(dst)
	}
	largest := len(s.classes) - 1
	if src < 0 || src > largest || dst < 0 || dst > largest {
		return ReassignBadClass
	}
	if s.pagesOf(src) < 2 {
		return ReassignNoSpare
	}
	s.startMove(src, dst)
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return ReassignOK
}

func (s *Store) pagesOf(id int) int {
	if id == 0 {
		return len(s.arena.pool)
	}
	return int(s.classes[id].pages)
}

// pickAnySource walks the classes once from where it stopped last time and
// returns one with a page to spare, or -1.
func (s *Store) pickAnySource(dst int) int {
	m := &s.mover
	for tries := len(s.classes) - 1; tries > 0; tries-- {
		if m.pickCur++; m.pickCur >= len(s.classes) {
			m.pickCur = smallestCls
		}
		if m.pickCur != dst && s.classes[m.pickCur].pages > 1 {
			return m.pickCur
		}
	}
	return -1
}

// moveMaxLoops is memcached's SLAB_MOVE_MAX_LOOPS.
const moveMaxLoops = 1000

// startMove sets up the move of src's oldest page (lock held).
func (s *Store) startMove(src, dst int) {
	m := &s.mover
	m.running, m.src, m.dst, m.pos, m.busy, m.loops = true, src, dst, 0, 0, 0
	if src == 0 {
		// A pooled page holds nothing: it only changes hands.
		s.finishMove()
		return
	}
	c := &s.classes[src]
	m.start = s.arena.pageRef(c.pageList[0])
	m.completed = make([]bool, c.perPage)
	step := c.size / chunkAlign
	if c.endLeft > 0 && c.endRef >= m.start && c.endRef < m.start+c.perPage*step {
		// Still being carved: the chunks never handed out are free already.
		for i := (c.endRef - m.start) / step; i < c.perPage; i++ {
			m.completed[i] = true
		}
		c.endLeft = 0
	}
}

// moveSteps visits up to n chunk positions of the page being emptied (lock
// held) and reports whether it met busy chunks.
func (s *Store) moveSteps(n int) (busy bool) {
	m := &s.mover
	m.copied = 0
	for ; n > 0 && m.running && m.copied < moveCopyBudget; n-- {
		c := &s.classes[m.src]
		if !m.completed[m.pos] {
			busy = !s.evacuate(uint8(m.src), m.start+m.pos*(c.size/chunkAlign)) || busy
		}
		if m.pos++; m.pos < c.perPage {
			continue
		}
		if m.busy == 0 {
			s.finishMove()
			break
		}
		// Some chunks were busy: go over the page again.
		s.st.SlabReassignBusyItems += m.busy
		m.busy, m.pos = 0, 0
		m.loops++
	}
	return busy
}

// evacuate empties one chunk of the page; false when it must wait.
func (s *Store) evacuate(id uint8, ref uint32) bool {
	if int(id) == len(s.classes)-1 {
		// Only the largest class holds continuation chunks.
		if head, ok := s.chunkHeads[ref]; ok {
			return s.evacuateContinuation(id, ref, head)
		}
	}
	switch {
	case s.isFree(ref):
		s.cutFree(id, ref)
		s.completeChunk(ref)
		return true
	case s.iflags(ref)&flagLinked != 0 && !s.isPinned(ref):
		return s.evacuateItem(id, ref)
	case s.iflags(ref)&flagLinked != 0 && s.readPinned(ref) && s.mover.loops > moveMaxLoops:
		// memcached's busy delete: a reply has pointed into the item
		// through a thousand passes (a client that does not read). It
		// goes from the cache now, and its chunk when the reply lets go.
		s.st.SlabReassignBusyDeletes++
		s.unlink(ref, hashKey(s.key(ref)))
	}
	// Allocated but not linked: a value still being received.
	s.mover.busy++
	return false
}

// evacuateItem rescues a live item into another chunk of its class, or
// drops it when it is dead or no chunk is free.
func (s *Store) evacuateItem(id uint8, ref uint32) bool {
	m := &s.mover
	hv := hashKey(s.key(ref))
	chunked := s.iflags(ref)&flagChunked != 0
	if !s.deadOnTail(ref, s.Now()) {
		if nref, ok := s.rescueChunk(id); ok {
			n := s.chunkMax
			if !chunked {
				n = s.valueOff(ref) + s.nbytes(ref)
			}
			copy(s.arena.bytes(nref, n), s.arena.bytes(ref, n))
			m.copied += n
			s.relocate(ref, nref, hv)
			if chunked {
				for i, x := uint32(0), s.nextra(nref); i < x; i++ {
					s.chunkHeads[s.extraRef(nref, i)] = nref
				}
			}
			s.classes[id].used--
			s.completeChunk(ref)
			m.rescues++
			return true
		}
		m.evictionsNomem++
	}
	s.unlink(ref, hv)
	if chunked {
		// memcached lets a chunked item's chunks return to the free list
		// and comes back for them on the next pass.
		m.busy++
		return false
	}
	s.cutFree(id, ref)
	s.completeChunk(ref)
	return true
}

// evacuateContinuation moves one continuation chunk of a chunked item.
func (s *Store) evacuateContinuation(id uint8, ref, head uint32) bool {
	m := &s.mover
	if s.iflags(head)&flagLinked == 0 || s.isPinned(head) {
		m.busy++
		return false
	}
	hv := hashKey(s.key(head))
	if !s.deadOnTail(head, s.Now()) {
		if nref, ok := s.rescueChunk(id); ok {
			copy(s.arena.bytes(nref, s.chunkMax), s.arena.bytes(ref, s.chunkMax))
			m.copied += s.chunkMax
			for i, x := uint32(0), s.nextra(head); i < x; i++ {
				if s.extraRef(head, i) == ref {
					s.setExtraRef(head, i, nref)
				}
			}
			delete(s.chunkHeads, ref)
			s.chunkHeads[nref] = head
			s.classes[id].used--
			s.completeChunk(ref)
			m.chunkRescues++
			return true
		}
		m.evictionsNomem++
	}
	s.unlink(head, hv)
	m.busy++
	return false
}

// rescueChunk is memcached's slab_rebalance_alloc: a free chunk of the
// class outside the page being emptied, never a new page. Free chunks of
// that page met on the way are emptied at once (inline reclaim).
func (s *Store) rescueChunk(id uint8) (uint32, bool) {
	c := &s.classes[id]
	for c.freeHead != 0 {
		ref := c.freeHead
		s.cutFree(id, ref)
		if s.inMovingPage(ref) {
			s.completeChunk(ref)
			s.mover.inlineReclaim++
			continue
		}
		c.used++
		return ref, true
	}
	if c.endLeft > 0 {
		return s.takeChunk(id), true
	}
	return 0, false
}

func (s *Store) inMovingPage(ref uint32) bool {
	m := &s.mover
	return ref >= m.start && ref < m.start+s.arena.pageSize/chunkAlign
}

func (s *Store) completeChunk(ref uint32) {
	m := &s.mover
	m.completed[(ref-m.start)/(s.classes[m.src].size/chunkAlign)] = true
}

// relocate makes nref, a copy of item ref, take its place in the hash
// index, the LRU and any crawl (lock held).
func (s *Store) relocate(ref, nref uint32, hv uint64) {
	s.idx.relocateEntry(ref, nref, hv)
	l := &s.classes[s.class(ref)].lru[s.segmentOf(ref)]
	prev, next := s.word(ref, offPrev), s.word(ref, offNext)
	if prev != 0 {
		s.setWord(prev, offNext, nref)
	} else {
		l.head = nref
	}
	if next != 0 {
		s.setWord(next, offPrev, nref)
	} else {
		l.tail = nref
	}
	if cur := &s.classes[s.class(ref)].crawl[s.segmentOf(ref)]; cur.on && cur.next == ref {
		cur.next = nref
	}
}

// finishMove hands the emptied page to its new owner (lock held).
func (s *Store) finishMove() {
	m := &s.mover
	var page uint32
	if m.src == 0 {
		page = s.arena.pool[0]
		s.arena.pool = s.arena.pool[1:]
	} else {
		c := &s.classes[m.src]
		page = c.pageList[0]
		c.pageList = append(c.pageList[:0], c.pageList[1:]...)
		c.pages--
	}
	if m.dst == 0 {
		s.arena.pool = append(s.arena.pool, page)
		s.pageClass[page] = 0
		s.arena.limitSeen = false
		s.arena.release()
	} else {
		s.addPage(uint8(m.dst), page)
	}
	s.st.SlabsMoved++
	s.st.SlabReassignRescues += m.rescues
	s.st.SlabReassignChunkRescues += m.chunkRescues
	s.st.SlabReassignEvictionsNomem += m.evictionsNomem
	s.st.SlabReassignInlineReclaim += m.inlineReclaim
	m.rescues, m.chunkRescues, m.evictionsNomem, m.inlineReclaim = 0, 0, 0, 0
	m.running, m.completed = false, nil
}

// runMover is the mover goroutine: it waits for a move, then works
// through the page, pausing a little longer each time busy chunks hold it.
func (s *Store) runMover(b *background) {
	defer close(b.done)
	for {
		select {
		case <-b.stop:
			return
		case <-s.mover.wake:
		}
		backoff := time.Microsecond
		for {
			s.mu.Lock()
			busy := s.moveSteps(moveBatch)
			running := s.mover.running
			s.mu.Unlock()
			if !running {
				break
			}
			if !busy {
				select {
				case <-b.stop:
					return
				default:
					continue
				}
			}
			select {
			case <-b.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxMoveBackoff)
		}
	}
}

// startMover starts the mover goroutine (lock held or during New).
func (s *Store) startMover() {
	if s.mover.bg != nil || s.noBackground {
		return
	}
	b := &background{stop: make(chan struct{}), done: make(chan struct{})}
	s.mover.bg = b
	go s.runMover(b)
}
