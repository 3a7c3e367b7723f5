package store

// The item size histogram of `stats sizes`, as memcached 1.6.18 keeps it:
// turned on at run time (stats sizes_enable) or from the start (-o
// track_sizes), it counts linked items by their size in 32-byte buckets.
// Items already there when it was turned on are never counted: the CAS
// value tells them apart, which is why turning it on needs CAS and takes
// one CAS value of its own, as memcached's get_cas_id does.

type sizeHistogram struct {
	buckets []uint32 // nil while off
	casMin  uint64   // items with a lower CAS predate the histogram
}

// SizeBucket is one line of stats sizes: Count items of more than
// Size-32 and at most Size bytes.
type SizeBucket struct {
	Size  uint64
	Count uint32
}

// EnableSizes turns the histogram on; false when CAS is off (-C).
func (s *Store) EnableSizes() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cfg.CAS {
		return false
	}
	s.initSizes()
	return true
}

// initSizes turns the histogram on unless it is (lock held, or before the
// store serves).
func (s *Store) initSizes() {
	if s.hist.buckets != nil {
		return
	}
	s.hist.buckets = make([]uint32, s.cfg.ItemSizeMax/32+1)
	s.hist.casMin = s.nextCAS()
}

// DisableSizes turns the histogram off and forgets its counts.
func (s *Store) DisableSizes() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hist.buckets = nil
}

// SizesEnabled is stats settings' track_sizes.
func (s *Store) SizesEnabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hist.buckets != nil
}

// Sizes returns the non-empty buckets in order, and false when the
// histogram is off.
func (s *Store) Sizes() ([]SizeBucket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hist.buckets == nil {
		return nil, false
	}
	var out []SizeBucket
	for i, n := range s.hist.buckets {
		if n != 0 {
			out = append(out, SizeBucket{uint64(i) * 32, n})
		}
	}
	return out, true
}

// countSize adds (+1) or removes (-1) a linked item (lock held).
func (s *Store) countSize(ref uint32, delta int) {
	h := &s.hist
	if h.buckets == nil || h.casMin > s.cas(ref) {
		return
	}
	t := s.totalOf(ref)
	if b := (t + 31) / 32; b < uint64(len(h.buckets)) {
		h.buckets[b] += uint32(delta)
	}
}

// recas gives an item rewritten in place a new CAS. The histogram counts
// it again under the new one, as memcached's do_add_delta does: an item
// that predates the histogram is counted from then on.
func (s *Store) recas(ref uint32) uint64 {
	s.countSize(ref, -1)
	cas := s.nextCAS()
	s.setCAS(ref, cas)
	s.countSize(ref, 1)
	return cas
}
