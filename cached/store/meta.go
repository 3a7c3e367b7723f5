package store

// Support for memcached's meta commands (mg, ms, md, ma, me). A meta
// command reads and changes several fields of one item in a single step —
// report the TTL, then touch, then claim the recache token — in the order
// the client wrote its flags, so the store hands the protocol layer a View
// of the item under the lock instead of one method per flag combination.

// flagKeyBinary marks an item whose key arrived base64-encoded (the b flag),
// so meta replies encode it again, as memcached's ITEM_KEY_BINARY.
const flagKeyBinary = 1 << 5

// View is one item (or its absence) under the store lock, from OpenView
// until Close.
type View struct {
	s   *Store
	ref uint32
	hv  uint64
	now uint32
	key []byte
	// detached: an ma grew the number into a new item. memcached then
	// keeps answering for the old, unlinked copy, so a TTL the same ma sets
	// (T) is reported but never reaches the stored item; ghostExp is that
	// copy's expiry.
	detached bool
	ghostExp uint32
	// seg is the LRU segment the item was found in: a hit counts there
	// (hits_to_hot ...) even when the same command's bump moves it.
	seg    segment
	status LookupStatus
	// orphan: an item SetExp had to drop (expiry.go), read until Close
	// and then freed; nothing may link or move it meanwhile.
	orphan uint32
}

// OpenView locks the store and returns the live item for key, or an empty
// View on a miss. The caller must Close it (deferred, so a panic unlocks
// too) and call no other Store method before that. A View is a value so
// that meta commands cost no allocation.
func (s *Store) OpenView(key []byte) View {
	s.mu.Lock()
	v := View{s: s, key: key, hv: hashKey(key), now: s.Now()}
	v.ref, v.status = s.lookupStatus(key, v.hv, v.now)
	if v.ref != 0 {
		v.seg = s.segmentOf(v.ref)
	}
	return v
}

// Close unlocks the store; the View is unusable afterwards.
func (v *View) Close() {
	if v.orphan != 0 {
		v.s.freeItem(v.orphan)
		v.orphan = 0
	}
	v.s.mu.Unlock()
}

// Found reports whether the view holds an item.
func (v *View) Found() bool { return v.ref != 0 }

// Now is the server-relative time of this operation.
func (v *View) Now() uint32 { return v.now }

// Create links a new item for the missing key (mg and ma autovivify) with
// the given value and expiry; false when memory is full.
func (v *View) Create(value []byte, exp uint32) bool {
	s := v.s
	ref, ok := s.allocItem(v.key, 0, exp, uint32(len(value)), v.now)
	if !ok {
		return false
	}
	var segs [16][]byte
	w := segmentWriter{segs: s.segments(segs[:0], ref)}
	w.write(value)
	s.link(ref, v.hv, v.now)
	v.ref = ref
	v.seg = s.segmentOf(ref)
	return true
}

// Exp is the item's server-relative expiry (0 = never).
func (v *View) Exp() uint32 {
	if v.detached {
		return v.ghostExp
	}
	return v.s.exp(v.ref)
}

// SetExp sets the item's server-relative expiry; on a detached view only
// the one reported.
func (v *View) SetExp(exp uint32) {
	if v.detached {
		v.ghostExp = exp
		return
	}
	ref, ok := v.s.setExp(v.ref, v.hv, exp)
	if !ok {
		// The item is gone from the cache, but this command answers for
		// it as read, with the expiry asked for; Close frees it.
		v.s.dropUnexpirable(v.ref, v.hv)
		v.orphan, v.detached, v.ghostExp = v.ref, true, exp
		return
	}
	v.ref = ref
}

// Flags is the client's flags word.
func (v *View) Flags() uint32 { return v.s.flags(v.ref) }

// CAS is the item's compare-and-swap value.
func (v *View) CAS() uint64 { return v.s.cas(v.ref) }

// Len is the value's length in bytes, without the trailing \r\n.
func (v *View) Len() int { return int(v.s.nbytes(v.ref)) }

// Key is the stored key (the decoded one for a base64 key).
func (v *View) Key() []byte { return v.s.key(v.ref) }

// Idle is the number of seconds since the item was last bumped.
func (v *View) Idle() uint32 { return v.now - v.s.word(v.ref, offTime) }

// Fetched reports whether the item was read since it was stored.
func (v *View) Fetched() bool { return v.s.iflags(v.ref)&flagFetched != 0 }

// Stale reports an item invalidated by md I or a stale ms I.
func (v *View) Stale() bool { return v.s.iflags(v.ref)&flagStale != 0 }

// TokenSent reports that a client already won the right to recache.
func (v *View) TokenSent() bool { return v.s.iflags(v.ref)&flagToken != 0 }

// SetTokenSent records that a client won the right to recache, so the
// next reader is told to wait instead.
func (v *View) SetTokenSent() { v.s.setIFlag(v.ref, flagToken) }

// KeyBinary reports a key stored from base64 (meta's b flag), which meta
// replies encode again.
func (v *View) KeyBinary() bool { return v.s.iflags(v.ref)&flagKeyBinary != 0 }

// Value appends the item's value to dst.
func (v *View) Value(dst []byte) []byte { return v.s.appendValue(dst, v.ref) }

// Bump marks the item fetched and refreshes its LRU position.
func (v *View) Bump() {
	if v.orphan == 0 {
		v.s.bump(v.ref, v.now)
	}
}

// Size is the item's accounted size (size.go); `me` reports it.
func (v *View) Size() uint64 { return v.s.totalOf(v.ref) }

// Class is the slab class the item is kept in; `me` reports it.
func (v *View) Class() uint8 { return v.s.class(v.ref) }

// Invalidate marks the item stale with a new CAS and lets the next reader
// win the recache token (md with I).
func (v *View) Invalidate() {
	v.s.setIFlag(v.ref, flagStale)
	v.s.clearIFlag(v.ref, flagToken)
	v.s.setCAS(v.ref, v.s.nextCAS())
}

// Delete removes the item (md) and counts a delete hit.
func (v *View) Delete() {
	if v.orphan != 0 {
		return // already dropped
	}
	v.s.classes[v.s.class(v.ref)].st.DeleteHits++
	v.s.unlink(v.ref, v.hv)
	v.ref = 0
}

// Delta is incr/decr for ma: like Store.Delta, with a CAS precondition
// (cas 0 = none). On success the view holds the updated item and the new
// number's digits are appended to dst.
func (v *View) Delta(dst []byte, incr bool, delta, cas uint64) ([]byte, DeltaResult) {
	s := v.s
	if v.orphan != 0 {
		return dst, DeltaNotFound
	}
	n := s.nbytes(v.ref)
	if n == 0 || s.iflags(v.ref)&flagChunked != 0 {
		return dst, DeltaNonNumeric
	}
	if cas != 0 && cas != s.cas(v.ref) {
		return dst, DeltaExists
	}
	var segs [1][]byte
	val := s.segments(segs[:0], v.ref)[0]
	num, ok := ParseUint64(val)
	if !ok {
		return dst, DeltaNonNumeric
	}
	c := &s.classes[s.class(v.ref)]
	if incr {
		num += delta
		c.st.IncrHits++
	} else {
		num = max(num, delta) - delta
		c.st.DecrHits++
	}
	start := len(dst)
	dst = appendUint(dst, num)
	d := dst[start:]
	if uint32(len(d)) <= n {
		copy(val, d)
		for i := len(d); i < len(val); i++ {
			val[i] = ' '
		}
		s.recas(v.ref)
		s.update(v.ref, v.now)
		return dst, DeltaOK
	}
	s.pinned = v.ref
	nref, ok := s.allocItem(v.key, s.flags(v.ref), s.exp(v.ref), uint32(len(d)), v.now)
	s.pinned = 0
	if !ok {
		return dst[:start], DeltaNoMemory
	}
	copy(s.segments(segs[:0], nref)[0], d)
	v.ghostExp, v.detached = s.exp(v.ref), true
	s.replace(v.ref, nref, v.hv, v.now)
	v.ref = nref
	return dst, DeltaOK
}

// DeltaExists is an ma whose CAS did not match.
const DeltaExists = DeltaNoMemory + 1

// Count helpers record a meta command in memcached's counters.

// CountGet records an mg that read (hit or miss) without touching.
func (v *View) CountGet(hit bool) {
	v.s.st.CmdGet++
	if hit {
		c := &v.s.classes[v.s.class(v.ref)].st
		c.GetHits++
		c.countHit(v.seg)
	} else {
		v.s.st.GetMisses++
	}
}

// CountTouch records an mg with T.
func (v *View) CountTouch(hit bool) {
	v.s.st.CmdTouch++
	if hit {
		v.s.classes[v.s.class(v.ref)].st.TouchHits++
	} else {
		v.s.st.TouchMisses++
	}
}

// CountDeleteMiss records an md that found nothing or failed its CAS.
func (v *View) CountDeleteMiss() { v.s.st.DeleteMisses++ }

// CountDeltaMiss records an ma on a missing key.
func (v *View) CountDeltaMiss(incr bool) {
	if incr {
		v.s.st.IncrMisses++
	} else {
		v.s.st.DecrMisses++
	}
}

// CommitMeta stores a filled pending item for ms. Beyond Commit it marks
// a base64 key, and with stale set (ms I) a CAS older than the item's
// replaces the value anyway but keeps the item stale, with its expiry and
// recache token, as memcached's CAS_STALE. It returns the result and the
// stored item's CAS.
func (s *Store) CommitMeta(p Pending, mode Mode, cas uint64, stale, keyBinary bool) (Result, uint64) {
	if keyBinary {
		s.mu.Lock()
		s.setIFlag(p.ref, flagKeyBinary)
		s.mu.Unlock()
	}
	if !stale || mode != ModeCAS || cas == 0 {
		return s.Commit(p, mode, cas)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	key := s.key(p.ref)
	hv := hashKey(key)
	s.classes[p.class].st.CmdSet++
	old := s.lookup(key, hv, now)
	switch {
	case old == 0:
		s.st.CASMisses++
		s.freeItem(p.ref)
		return NotFound, 0
	case cas > s.cas(old):
		s.classes[s.class(old)].st.CASBadval++
		s.freeItem(p.ref)
		return Exists, 0
	case cas < s.cas(old):
		if p.ref = s.setPendingExp(p.ref, s.exp(old)); p.ref == 0 {
			return NotStored, 0
		}
		s.setIFlag(p.ref, flagStale)
		if s.iflags(old)&flagToken != 0 {
			s.setIFlag(p.ref, flagToken)
		}
	}
	s.classes[s.class(old)].st.CASHits++
	return Stored, s.replace(old, p.ref, hv, now)
}
