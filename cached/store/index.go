package store

import (
	"bytes"
	"hash/maphash"
)

// The hash index is memcached's design: a power-of-two bucket array of refs,
// chained through each item's hnext field, doubled when it holds 1.5 items
// per bucket. Buckets are uint32s, so the whole index is one pointer-free
// slice the GC does not scan.
//
// Doubling moves items a few buckets at a time, as memcached's background
// expansion does: rehashing millions of items in one go under the store
// lock stalled every client for most of a second at 3 million items.

const (
	initialHashPower = 16 // memcached's HASHPOWER_DEFAULT
	// migrateStep is how many old buckets each insert moves while the
	// table doubles: enough to finish long before the next doubling is due
	// (one insert per 1.5 buckets), small enough to keep each insert short.
	migrateStep = 16
)

var hashSeed = maphash.MakeSeed()

func hashKey(key []byte) uint64 { return maphash.Bytes(hashSeed, key) }

type index struct {
	buckets []uint32
	mask    uint64
	power   uint32
	count   uint32

	// While doubling: the previous array, and how many of its buckets have
	// been moved into buckets. Old bucket i splits into new i and i+len(old).
	old      []uint32
	oldMask  uint64
	migrated uint64

	// walking holds doubling off while a metadump walks the buckets, as
	// memcached's hash iterator blocks its expansion.
	walking bool
}

func newIndex(power uint32) index {
	if power == 0 {
		power = initialHashPower
	}
	return index{buckets: make([]uint32, 1<<power), mask: 1<<power - 1, power: power}
}

func (x *index) expanding() bool { return x.old != nil }

// bucket returns the chain head holding hash hv.
func (x *index) bucket(hv uint64) *uint32 {
	if x.old != nil {
		if b := hv & x.oldMask; b >= x.migrated {
			return &x.old[b]
		}
	}
	return &x.buckets[hv&x.mask]
}

// find returns the item with this key, or 0.
func (s *Store) find(key []byte, hv uint64) uint32 {
	for ref := *s.idx.bucket(hv); ref != 0; ref = s.word(ref, offHNext) {
		if s.nkey(ref) != uint32(len(key)) {
			continue
		}
		off := s.keyOff(ref)
		if bytes.Equal(s.arena.bytes(ref, off+uint32(len(key)))[off:], key) {
			return ref
		}
	}
	return 0
}

func (s *Store) indexInsert(ref uint32, hv uint64) {
	b := s.idx.bucket(hv)
	s.setWord(ref, offHNext, *b)
	*b = ref
	s.idx.count++
	switch {
	case s.idx.expanding():
		s.migrateBuckets(migrateStep)
	case uint64(s.idx.count) > uint64(len(s.idx.buckets))*3/2 && s.idx.power < 31 && !s.idx.walking:
		s.startExpansion()
	}
}

func (s *Store) indexDelete(ref uint32, hv uint64) {
	b := s.idx.bucket(hv)
	if *b == ref {
		*b = s.word(ref, offHNext)
		s.idx.count--
		return
	}
	for prev := *b; prev != 0; {
		next := s.word(prev, offHNext)
		if next == ref {
			s.setWord(prev, offHNext, s.word(ref, offHNext))
			s.idx.count--
			return
		}
		prev = next
	}
}

// startExpansion allocates the doubled array; items move over later.
func (s *Store) startExpansion() {
	x := &s.idx
	x.old, x.oldMask, x.migrated = x.buckets, x.mask, 0
	x.power++
	x.buckets = make([]uint32, 1<<x.power)
	x.mask = 1<<x.power - 1
}

// migrateBuckets moves up to n old buckets into the new array.
func (s *Store) migrateBuckets(n int) {
	x := &s.idx
	for ; n > 0 && x.migrated < uint64(len(x.old)); n-- {
		for ref := x.old[x.migrated]; ref != 0; {
			following := s.word(ref, offHNext)
			b := &x.buckets[hashKey(s.key(ref))&x.mask]
			s.setWord(ref, offHNext, *b)
			*b = ref
			ref = following
		}
		x.old[x.migrated] = 0
		x.migrated++
	}
	if x.migrated == uint64(len(x.old)) {
		x.old, x.oldMask, x.migrated = nil, 0, 0
	}
}
