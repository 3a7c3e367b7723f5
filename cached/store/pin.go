package store

// A get reply can point the kernel straight at an item's value in the slab
// (writev), as memcached's iovecs do, instead of copying the value into
// the reply buffer. Between the lookup and the write the item is pinned,
// memcached's reference count: eviction, the crawler and the slab mover
// pass it by, nothing rewrites its value in place, and if a set, delete or
// expiry unlinks it meanwhile its chunk is freed only when the last reader
// lets go. Pins are counted outside the item, so items carry no refcount
// field; only large values are read this way, so the table stays small.

const pinDead = 1 << 31 // the item was unlinked while pinned

// pinRead pins an item for a reader (lock held).
func (s *Store) pinRead(ref uint32) {
	if s.reads == nil {
		s.reads = make(map[uint32]uint32)
	}
	s.reads[ref]++
}

// readPinned reports whether a reader holds the item (lock held).
func (s *Store) readPinned(ref uint32) bool {
	return len(s.reads) != 0 && s.reads[ref] != 0
}

// isPinned reports whether the item may be neither reused nor moved: the
// operation in progress reads it, or a reply still points into it.
func (s *Store) isPinned(ref uint32) bool {
	return ref == s.pinned || s.readPinned(ref)
}

// deferFree marks a pinned item's chunk to be freed by its last reader and
// reports whether it did (lock held). The item is no longer linked, so
// the slab mover waits for it as for a value still being received.
func (s *Store) deferFree(ref uint32) bool {
	n, ok := s.reads[ref]
	if !ok {
		return false
	}
	s.reads[ref] = n | pinDead
	s.clearIFlag(ref, flagLinked)
	return true
}

// Unpin lets go of items pinned by AppendGetView, freeing those unlinked
// meanwhile.
func (s *Store) Unpin(refs []uint32) {
	if len(refs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ref := range refs {
		n, ok := s.reads[ref]
		if !ok {
			continue // not pinned: nothing to let go
		}
		n--
		if n&^pinDead != 0 {
			s.reads[ref] = n
			continue
		}
		delete(s.reads, ref)
		if n&pinDead != 0 {
			s.freeItem(ref)
		}
	}
}

// Pinned is how many items replies still point into.
func (s *Store) Pinned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reads)
}
