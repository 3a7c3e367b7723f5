package store

import (
	"encoding/binary"
	"math"
)

// Mode is how a store command treats an existing item.
type Mode uint8

const (
	ModeSet Mode = iota
	ModeAdd
	ModeReplace
	ModeAppend
	ModePrepend
	ModeCAS
)

// Result of a store command.
type Result uint8

const (
	Stored Result = iota
	NotStored
	Exists
	NotFound
)

// Meta describes an item returned by a read.
type Meta struct {
	Flags  uint32
	CAS    uint64
	Len    int
	Class  uint8        // slab class, as memcached's watch reports it
	Status LookupStatus // on a miss: why (not found, expired, flushed)
}

// Peek reports what a lookup of key finds now, without touching the item,
// unlinking a dead one or counting anything. The watch log uses it for
// the item_get line memcached writes for the lookup inside a store,
// delete, incr or touch.
func (s *Store) Peek(key []byte) (Meta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	ref := s.find(key, hashKey(key))
	switch {
	case ref == 0:
		return Meta{Status: LookupNotFound}, false
	case s.flushed(ref, now):
		return Meta{Status: LookupFlushed}, false
	case s.expired(ref, now):
		return Meta{Status: LookupExpired}, false
	}
	return Meta{Status: LookupFound, Class: s.class(ref), Len: int(s.nbytes(ref))}, true
}

// Pending is an allocated, unlinked item whose value the caller fills
// (without holding the store lock) before Commit or Abort.
type Pending struct {
	ref   uint32
	class uint8
}

// Alloc reserves memory for an item of nbytes value bytes, evicting from
// the class's LRU tail if memory is full. exp is server-relative (RelTime).
func (s *Store) Alloc(key []byte, flags uint32, exp uint32, nbytes int) (Pending, error) {
	if s.tooLarge(len(key), flags, nbytes) {
		s.mu.Lock()
		s.st.StoreTooLarge++
		s.mu.Unlock()
		return Pending{}, ErrTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, ok := s.allocItem(key, flags, exp, uint32(nbytes), s.Now())
	if !ok {
		s.st.StoreNoMemory++
		return Pending{}, ErrNoMemory
	}
	return Pending{ref: ref, class: s.class(ref)}, nil
}

// Value appends the pending item's writable value memory to dst.
func (s *Store) Value(p Pending, dst [][]byte) [][]byte { return s.segments(dst, p.ref) }

// Abort frees a pending item. countSet records it as a set command, as
// memcached does for a value that arrived without its CRLF.
func (s *Store) Abort(p Pending, countSet bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if countSet {
		s.classes[p.class].st.CmdSet++
	}
	s.freeItem(p.ref)
}

// Commit stores a filled pending item according to mode; cas is the
// client's compare value (0 = none). It returns the result and the stored
// item's CAS. The pending item is consumed either way.
func (s *Store) Commit(p Pending, mode Mode, cas uint64) (Result, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	key := s.key(p.ref)
	hv := hashKey(key)
	s.classes[p.class].st.CmdSet++

	old := s.lookup(key, hv, now)
	if old == 0 {
		switch mode {
		case ModeSet, ModeAdd:
			return Stored, s.link(p.ref, hv, now)
		case ModeCAS:
			s.st.CASMisses++
			s.freeItem(p.ref)
			return NotFound, 0
		default:
			s.freeItem(p.ref)
			return NotStored, 0
		}
	}

	casMatch := cas != 0 && cas == s.cas(old)
	switch mode {
	case ModeSet, ModeReplace:
		return Stored, s.replace(old, p.ref, hv, now)
	case ModeAdd:
		s.update(old, now)
	case ModeCAS:
		if casMatch {
			s.classes[s.class(old)].st.CASHits++
			return Stored, s.replace(old, p.ref, hv, now)
		}
		s.classes[s.class(old)].st.CASBadval++
		s.freeItem(p.ref)
		return Exists, 0
	case ModeAppend, ModePrepend:
		if cas != 0 && !casMatch {
			s.freeItem(p.ref)
			return Exists, 0
		}
		if joined, ok := s.join(old, p.ref, mode == ModePrepend, now); ok {
			s.freeItem(p.ref)
			return Stored, s.replace(old, joined, hv, now)
		}
	}
	s.freeItem(p.ref)
	return NotStored, 0
}

func (s *Store) replace(old, ref uint32, hv uint64, now uint32) uint64 {
	s.unlink(old, hv)
	return s.link(ref, hv, now)
}

// join builds old+add (or add+old) as a new item keeping old's flags and
// expiry, as memcached's append and prepend do.
func (s *Store) join(old, add uint32, prepend bool, now uint32) (uint32, bool) {
	on, an := s.nbytes(old), s.nbytes(add)
	flags := s.flags(old)
	if s.tooLarge(int(s.nkey(old)), flags, int(on+an)) {
		return 0, false
	}
	s.pinned = old // the allocation below may evict; never the item we copy from
	ref, ok := s.allocItem(s.key(old), flags, s.exp(old), on+an, now)
	s.pinned = 0
	if !ok {
		return 0, false
	}
	var buf [32][]byte
	first, second := old, add
	if prepend {
		first, second = add, old
	}
	dst := s.segments(buf[:0], ref)
	w := segmentWriter{segs: dst}
	for _, src := range [2]uint32{first, second} {
		var sb [16][]byte
		for _, seg := range s.segments(sb[:0], src) {
			w.write(seg)
		}
	}
	return ref, true
}

// segmentWriter copies bytes across a chunked item's segments.
type segmentWriter struct {
	segs [][]byte
	i    int
	off  int
}

func (w *segmentWriter) write(b []byte) {
	for len(b) > 0 && w.i < len(w.segs) {
		n := copy(w.segs[w.i][w.off:], b)
		b = b[n:]
		w.off += n
		if w.off == len(w.segs[w.i]) {
			w.i++
			w.off = 0
		}
	}
}

// allocItem allocates and initialises an unlinked item (lock held).
func (s *Store) allocItem(key []byte, flags, exp, nbytes uint32, now uint32) (uint32, bool) {
	// Under -M nothing may be evicted to make room for an expiry given
	// later, so there every item carries the field from the start.
	withExp := exp != 0 || !s.cfg.Evictions
	class, extra := s.layout(uint32(len(key)), nbytes, flags, withExp)
	ref, ok := s.chunk(class, now)
	if !ok {
		return 0, false
	}
	m := s.mem(ref)
	clear(m[:fixedHeader])
	if flags != 0 {
		m[offIFlags] = flagClientFlags
		s.setWord(ref, int(s.flagsAt), flags)
	}
	if extra > 0 {
		m[offIFlags] |= flagChunked
	}
	off := s.expOff(ref)
	if withExp {
		s.setWord(ref, int(off), exp)
		off += expBytes
	}
	copy(s.arena.bytes(ref, off+uint32(len(key)))[off:], key)
	s.setLengths(ref, uint32(len(key)), nbytes, withExp)
	if extra == 0 {
		return ref, true
	}
	last := uint8(len(s.classes) - 1)
	for i := uint32(0); i < extra; i++ {
		// The head chunk is not linked yet, so no LRU walk can reach it;
		// s.pinned stays whatever the caller (join) protects.
		x, ok := s.chunk(last, now)
		if !ok {
			for j := uint32(0); j < i; j++ {
				x := s.extraRef(ref, j)
				delete(s.chunkHeads, x)
				s.freeChunk(last, x)
			}
			s.freeChunk(class, ref)
			return 0, false
		}
		s.setExtraRef(ref, i, x)
		s.chunkHeads[x] = ref
	}
	return ref, true
}

// Get copies a live item's value to dst and bumps it (get/gets).
func (s *Store) Get(dst []byte, key []byte) ([]byte, Meta, bool) {
	out, _, _, m, hit := s.AppendGetView(dst, key, false, 0, math.MaxUint32, nil)
	return out, m, hit
}

// GetAndTouch is Get that also sets a new expiry (gat/gats); it counts as
// a touch, as in memcached.
func (s *Store) GetAndTouch(dst []byte, key []byte, exp uint32) ([]byte, Meta, bool) {
	out, _, _, m, hit := s.AppendGetView(dst, key, true, exp, math.MaxUint32, nil)
	return out, m, hit
}

// getRef is a get's lookup, counted and bumped (lock held).
func (s *Store) getRef(key []byte) (uint32, LookupStatus) {
	s.st.CmdGet++
	now := s.Now()
	ref, status := s.lookupStatus(key, hashKey(key), now)
	if ref == 0 {
		s.st.GetMisses++
		return 0, status
	}
	c := &s.classes[s.class(ref)]
	c.st.GetHits++
	c.st.countHit(s.segmentOf(ref))
	s.bump(ref, now)
	return ref, status
}

// AppendGetView is a get (or, with touch, a gat) that writes a whole
// reply: on a hit it appends what head makes of the item's Meta (a VALUE
// line) to dst, then the value, copied once from the slab. A value of at
// least minView bytes in one chunk is not copied but returned as view, a
// slice of the slab, with the item pinned (ref) until the caller's Unpin,
// for a writer that can send it from where it lies. head runs under the
// store's lock: it must only append.
func (s *Store) AppendGetView(dst []byte, key []byte, touch bool, exp uint32, minView uint32,
	head func([]byte, Meta) []byte) (out, view []byte, ref uint32, m Meta, hit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var status LookupStatus
	if touch {
		ref, status = s.touch(key, exp)
	} else {
		ref, status = s.getRef(key)
	}
	if ref == 0 {
		return dst, nil, 0, Meta{Status: status}, false
	}
	if s.word(ref, offLen)&lenMask < minView || s.iflags(ref)&flagChunked != 0 {
		out, m, hit = s.appendReply(dst, ref, head)
		return out, nil, 0, m, hit
	}
	m = s.meta(ref)
	s.pinRead(ref)
	return head(dst, m), s.plainValue(ref), ref, m, true
}

// appendReply appends head's line for the item, then its value (lock held).
func (s *Store) appendReply(dst []byte, ref uint32, head func([]byte, Meta) []byte) ([]byte, Meta, bool) {
	m := s.meta(ref)
	if head != nil {
		dst = head(dst, m)
	}
	return s.appendValue(dst, ref), m, true
}

func (s *Store) meta(ref uint32) Meta {
	m := s.mem(ref)
	if m[offIFlags]&(flagChunked|flagClientFlags) == 0 {
		// The common case, read from the header at hand.
		return Meta{CAS: s.cas(ref), Len: int(binary.LittleEndian.Uint32(m[offLen:]) & lenMask), Class: s.class(ref), Status: LookupFound}
	}
	return Meta{Flags: s.flags(ref), CAS: s.cas(ref), Len: int(s.nbytes(ref)), Class: s.class(ref), Status: LookupFound}
}

// Touch sets a new expiry on a live item.
func (s *Store) Touch(key []byte, exp uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, _ := s.touch(key, exp)
	return ref != 0
}

// touch finds a live item, gives it a new expiry and bumps it, counting a
// touch hit or miss (lock held). It returns the item, or 0 and why.
func (s *Store) touch(key []byte, exp uint32) (uint32, LookupStatus) {
	s.st.CmdTouch++
	now := s.Now()
	hv := hashKey(key)
	ref, status := s.lookupStatus(key, hv, now)
	if ref == 0 {
		s.st.TouchMisses++
		return 0, status
	}
	nref, ok := s.setExp(ref, hv, exp)
	if !ok {
		s.dropUnexpirable(ref, hv)
		s.freeItem(ref)
		s.st.TouchMisses++
		return 0, LookupNotFound
	}
	ref = nref
	s.classes[s.class(ref)].st.TouchHits++
	s.bump(ref, now)
	return ref, status
}

// Delete removes a live item.
func (s *Store) Delete(key []byte) bool {
	return s.DeleteCAS(key, 0) == Deleted
}

// Unlink drops an item without counting it as a delete: a set that could
// not be stored must not leave the old value behind.
func (s *Store) Unlink(key []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hv := hashKey(key)
	if ref := s.lookup(key, hv, s.Now()); ref != 0 {
		s.unlink(ref, hv)
	}
}

// DeltaResult is the outcome of incr/decr.
type DeltaResult uint8

const (
	DeltaOK DeltaResult = iota
	DeltaNotFound
	DeltaNonNumeric
	DeltaNoMemory
)

// Delta is the text protocol's incr/decr: no creation, no CAS check. It
// increments (wrapping at 2^64) or decrements (flooring at 0) a decimal
// value and, like memcached, rewrites it in place padded with spaces when
// the new number is not longer than the old value.
func (s *Store) Delta(key []byte, incr bool, delta uint64) (uint64, uint64, DeltaResult) {
	v, cas, res := s.Arithmetic(key, Arith{Incr: incr, Delta: delta})
	switch res {
	case ArithOK:
		return v, cas, DeltaOK
	case ArithNotFound:
		return 0, 0, DeltaNotFound
	case ArithNonNumeric:
		return 0, 0, DeltaNonNumeric
	}
	return 0, 0, DeltaNoMemory
}

func appendUint(dst []byte, v uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// FlushAll invalidates every item, now or (delay > 0) at a future time;
// nothing is freed eagerly. delay follows memcached's expiry rules.
func (s *Store) FlushAll(delay int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.CmdFlush++
	now := s.Now()
	newOldest := now
	if delay > 0 {
		newOldest = s.RelTime(delay)
	}
	if s.cfg.CAS {
		s.oldestLive = newOldest - 1
		if s.oldestLive <= now {
			s.oldestCAS = s.nextCAS()
		}
	} else {
		s.oldestLive = newOldest
	}
}

// CountFlush records a flush_all that was refused, as memcached counts it.
func (s *Store) CountFlush() {
	s.mu.Lock()
	s.st.CmdFlush++
	s.mu.Unlock()
}

// SetMemoryLimit changes the memory limit (cache_memlimit). Pages holding
// items stay; with slab_reassign, pooled pages over a lower limit go back
// to the kernel now, and pages the mover pools later follow them. It fails
// when the new limit is beyond the memory reserved at start.
func (s *Store) SetMemoryLimit(limit uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit > uint64(s.arena.maxPages)*uint64(s.arena.pageSize) {
		return false
	}
	s.arena.limit = limit
	s.arena.limitSeen = false
	s.cfg.MemoryLimit = limit
	if s.mover.enabled {
		s.arena.release()
	}
	return true
}
