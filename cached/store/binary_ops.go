package store

// Arithmetic in full (create on miss, CAS check), which the text
// protocol's Delta and the binary protocol share, and a delete that checks
// a CAS. They keep memcached's counters exactly as its paths move them.

// Arith is a binary increment or decrement request.
type Arith struct {
	Incr    bool
	Delta   uint64
	Initial uint64 // value stored when the key is missing and Create is set
	Exp     uint32 // server-relative expiry (RelTime) of a created counter
	Create  bool   // false = expiration 0xffffffff: a miss is NotFound
	CAS     uint64 // 0 = no check
}

// ArithResult is the outcome of Arithmetic.
type ArithResult uint8

const (
	ArithOK ArithResult = iota
	ArithCreated
	ArithNotFound
	ArithNonNumeric
	ArithExists
	ArithNoMemory       // the grown value could not be allocated
	ArithNoMemoryCreate // the created counter could not be allocated
)

// Arithmetic is memcached's binary incr/decr: the value and the item's new
// CAS, creating the counter with Initial on a miss when asked. Like
// memcached, a created counter counts neither a miss nor a set, and a
// CAS mismatch counts nothing.
func (s *Store) Arithmetic(key []byte, a Arith) (uint64, uint64, ArithResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	hv := hashKey(key)
	ref := s.lookup(key, hv, now)
	if ref == 0 {
		if !a.Create {
			if a.Incr {
				s.st.IncrMisses++
			} else {
				s.st.DecrMisses++
			}
			return 0, 0, ArithNotFound
		}
		var digits [20]byte
		d := appendUint(digits[:0], a.Initial)
		nref, ok := s.allocItem(key, 0, a.Exp, uint32(len(d)), now)
		if !ok {
			return 0, 0, ArithNoMemoryCreate
		}
		var segs [1][]byte
		copy(s.segments(segs[:0], nref)[0], d)
		return a.Initial, s.link(nref, hv, now), ArithCreated
	}
	n := s.nbytes(ref)
	if n == 0 || s.iflags(ref)&flagChunked != 0 {
		return 0, 0, ArithNonNumeric
	}
	if a.CAS != 0 && a.CAS != s.cas(ref) {
		return 0, 0, ArithExists
	}
	var segs [1][]byte
	val := s.segments(segs[:0], ref)[0]
	v, ok := ParseUint64(val)
	if !ok {
		return 0, 0, ArithNonNumeric
	}
	c := &s.classes[s.class(ref)]
	if a.Incr {
		v += a.Delta
		c.st.IncrHits++
	} else {
		v = max(v, a.Delta) - a.Delta
		c.st.DecrHits++
	}
	var digits [20]byte
	d := appendUint(digits[:0], v)
	// In place only when no reply points into the value, as memcached
	// rewrites it only with no other reference.
	if uint32(len(d)) <= n && !s.readPinned(ref) {
		copy(val, d)
		for i := len(d); i < len(val); i++ {
			val[i] = ' '
		}
		cas := s.recas(ref)
		s.update(ref, now)
		return v, cas, ArithOK
	}
	s.pinned = ref
	nref, ok := s.allocItem(key, s.flags(ref), s.exp(ref), uint32(len(d)), now)
	s.pinned = 0
	if !ok {
		return 0, 0, ArithNoMemory
	}
	copy(s.segments(segs[:0], nref)[0], d)
	return v, s.replace(ref, nref, hv, now), ArithOK
}

// DeleteResult is the outcome of DeleteCAS.
type DeleteResult uint8

const (
	Deleted DeleteResult = iota
	DeleteNotFound
	DeleteExists
)

// DeleteCAS removes a live item if cas is 0 or matches its CAS; a
// mismatch leaves it and counts nothing, as memcached's binary delete.
func (s *Store) DeleteCAS(key []byte, cas uint64) DeleteResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	hv := hashKey(key)
	ref := s.lookup(key, hv, s.Now())
	if ref == 0 {
		s.st.DeleteMisses++
		return DeleteNotFound
	}
	if cas != 0 && cas != s.cas(ref) {
		return DeleteExists
	}
	s.classes[s.class(ref)].st.DeleteHits++
	s.unlink(ref, hv)
	return Deleted
}
