package store

// An item stored without an expiry (exptime 0, most of a cache's items)
// has no field for one: 4 bytes that, at the class boundaries, decide
// whether small items fit a smaller chunk. Giving such an item an expiry
// later (touch, gat, meta T, binary touch) makes room for the field: in
// place when the chunk has 4 bytes to spare beyond the item, else by
// copying the item into a chunk of the class its new size calls for. The
// copy keeps the key, value, client flags, CAS, access time and item
// flags, and takes the old item's LRU segment (at its head, as the bump of
// every touch would). An item once given a field keeps it, even when a
// later touch sets its expiry back to 0, so its size never shrinks under
// it. The copy's chunk comes as any store's does, evicting from that
// class's tail; under -M, where nothing may be evicted, every item is
// stored with the field (allocItem), so a touch never needs one. Only a
// class whose every item is pinned can leave a copy without a chunk.

// exp is the item's server-relative expiry, 0 = never.
func (s *Store) exp(ref uint32) uint32 {
	w := s.word(ref, offLen)
	if w&expBit == 0 {
		return 0
	}
	return s.word(ref, int(s.expOff(ref)))
}

// setExp gives a linked item a new expiry (lock held). It returns the
// item's ref, which changes when the item had to be copied to make room
// for the field, or false when no chunk could be had for that copy: the
// item is then left as it was, for the caller to drop (dropUnexpirable).
func (s *Store) setExp(ref uint32, hv uint64, exp uint32) (uint32, bool) {
	if s.hasExp(ref) {
		s.setWord(ref, int(s.expOff(ref)), exp)
		return ref, true
	}
	if exp == 0 {
		return ref, true
	}
	// Growing in place moves the value, which a pending reply may point
	// into; a pinned item is copied instead.
	if !s.readPinned(ref) && s.growExp(ref, true) {
		s.setWord(ref, int(s.expOff(ref)), exp)
		return ref, true
	}
	nref, ok := s.copyWithExp(ref, exp)
	if !ok {
		return ref, false
	}
	seg := s.segmentOf(ref)
	s.unlink(ref, hv)
	s.indexInsert(nref, hv)
	t := s.totalOf(nref)
	s.lruLink(nref, seg, t)
	s.bytes += t
	return nref, true
}

// dropUnexpirable takes out of the index and LRU an item that could not
// be given the expiry asked for, counted as an eviction: memory is too
// short for it, and keeping it without that expiry would serve it past
// the time the client set. The caller frees it (freeItem) once done
// reading it.
func (s *Store) dropUnexpirable(ref uint32, hv uint64) {
	s.countEviction(s.class(ref), ref, s.Now())
	s.indexDelete(ref, hv)
	t := s.totalOf(ref)
	s.lruUnlink(ref, t)
	s.bytes -= t
	s.clearIFlag(ref, flagLinked)
}

// setPendingExp gives an unlinked item an expiry; like setExp it returns
// the item's ref, or 0 (the item freed) when no chunk could be had.
func (s *Store) setPendingExp(ref uint32, exp uint32) uint32 {
	switch {
	case s.hasExp(ref):
	case exp == 0:
		return ref
	case !s.growExp(ref, false):
		nref, ok := s.copyWithExp(ref, exp)
		s.freeItem(ref)
		if !ok {
			return 0
		}
		return nref
	}
	s.setWord(ref, int(s.expOff(ref)), exp)
	return ref
}

// growExp makes room for the expiry field inside a plain item's own chunk,
// when the chunk has it, moving key and value up by 4 bytes. A linked
// item's accounted size grows with it.
func (s *Store) growExp(ref uint32, linked bool) bool {
	if s.iflags(ref)&flagChunked != 0 {
		return false
	}
	off := s.keyOff(ref)
	end := off + s.nkey(ref) + s.nbytes(ref)
	if end+expBytes > s.classes[s.class(ref)].size {
		return false
	}
	var t uint64
	if linked {
		t = s.totalOf(ref)
	}
	m := s.arena.bytes(ref, end+expBytes)
	copy(m[off+expBytes:], m[off:end])
	s.setWord(ref, offLen, s.word(ref, offLen)|expBit)
	if linked {
		if d := s.totalOf(ref) - t; d != 0 {
			s.classes[s.class(ref)].lru[s.segmentOf(ref)].bytes += d
			s.bytes += d
		}
	}
	return true
}

// copyWithExp copies an item into a new, unlinked item with an expiry
// field; the copy keeps everything but the chunk (lock held).
func (s *Store) copyWithExp(ref uint32, exp uint32) (uint32, bool) {
	pinned := s.pinned
	s.pinned = ref // the allocation may evict; never the item we copy from
	nref, ok := s.allocItem(s.key(ref), s.flags(ref), exp, s.nbytes(ref), s.Now())
	s.pinned = pinned
	if !ok {
		return 0, false
	}
	var src, dst [16][]byte
	w := segmentWriter{segs: s.segments(dst[:0], nref)}
	for _, seg := range s.segments(src[:0], ref) {
		w.write(seg)
	}
	const kept = flagLinked | flagFetched | flagStale | flagToken | flagKeyBinary | flagActive
	s.setIFlag(nref, s.iflags(ref)&kept)
	s.setWord(nref, offTime, s.word(ref, offTime))
	if s.cfg.CAS {
		s.setCAS(nref, s.cas(ref))
	}
	return nref, true
}
