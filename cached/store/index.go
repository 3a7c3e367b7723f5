package store

import (
	"bytes"
	"hash/maphash"
)

// The hash index is memcached's design: a power-of-two bucket array of refs,
// chained through each item's hnext field, doubled when it holds 1.5 items
// per bucket. Buckets are uint32s, so the whole index is one pointer-free
// slice the GC does not scan.

const initialHashPower = 16 // memcached's HASHPOWER_DEFAULT

var hashSeed = maphash.MakeSeed()

func hashKey(key []byte) uint64 { return maphash.Bytes(hashSeed, key) }

type index struct {
	buckets []uint32
	mask    uint64
	power   uint32
	count   uint32
}

func newIndex(power uint32) index {
	if power == 0 {
		power = initialHashPower
	}
	return index{buckets: make([]uint32, 1<<power), mask: 1<<power - 1, power: power}
}

// find returns the item with this key, or 0.
func (s *Store) find(key []byte, hv uint64) uint32 {
	for ref := s.idx.buckets[hv&s.idx.mask]; ref != 0; ref = s.word(ref, offHNext) {
		if s.nkey(ref) == uint32(len(key)) && bytes.Equal(s.key(ref), key) {
			return ref
		}
	}
	return 0
}

func (s *Store) indexInsert(ref uint32, hv uint64) {
	b := &s.idx.buckets[hv&s.idx.mask]
	s.setWord(ref, offHNext, *b)
	*b = ref
	s.idx.count++
	if uint64(s.idx.count) > uint64(len(s.idx.buckets))*3/2 && s.idx.power < 31 {
		s.expandIndex()
	}
}

func (s *Store) indexDelete(ref uint32, hv uint64) {
	b := &s.idx.buckets[hv&s.idx.mask]
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

// expandIndex doubles the bucket array. memcached migrates buckets in a
// background thread; here it is done at once, under the store lock: a
// one-off pause of a few milliseconds per million items.
func (s *Store) expandIndex() {
	old := s.idx.buckets
	next := newIndex(s.idx.power + 1)
	next.count = s.idx.count
	for _, head := range old {
		for ref := head; ref != 0; {
			following := s.word(ref, offHNext)
			b := &next.buckets[hashKey(s.key(ref))&next.mask]
			s.setWord(ref, offHNext, *b)
			*b = ref
			ref = following
		}
	}
	s.idx = next
}

// LRU: one doubly linked list per class, head = most recently used.

func (s *Store) lruLink(ref uint32) {
	c := &s.classes[s.class(ref)]
	s.setWord(ref, offPrev, 0)
	s.setWord(ref, offNext, c.lruHead)
	if c.lruHead != 0 {
		s.setWord(c.lruHead, offPrev, ref)
	}
	c.lruHead = ref
	if c.lruTail == 0 {
		c.lruTail = ref
	}
	c.items++
}

func (s *Store) lruUnlink(ref uint32) {
	c := &s.classes[s.class(ref)]
	prev, next := s.word(ref, offPrev), s.word(ref, offNext)
	if prev != 0 {
		s.setWord(prev, offNext, next)
	} else {
		c.lruHead = next
	}
	if next != 0 {
		s.setWord(next, offPrev, prev)
	} else {
		c.lruTail = prev
	}
	c.items--
}
