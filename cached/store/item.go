package store

import "encoding/binary"

// Item header, stored at the start of the item's chunk:
//
//	0  prev   uint32  LRU link
//	4  next   uint32  LRU link
//	8  hnext  uint32  hash chain
//	12 time   uint32  last access (server-relative seconds)
//	16 exp    uint32  expiry (server-relative seconds, 0 = never)
//	20 nbytes uint32  value length, without the trailing CRLF
//	24 flags  uint32  client flags
//	28 nkey   uint8
//	29 class  uint8
//	30 iflags uint8
//	31 lru    uint8   LRU segment (HOT, WARM, COLD, TEMP)
//	32 cas    uint64
//	40 key, then (chunked only) nextra uint32 chunk refs, then the value
//
// Links are refs, not pointers, so the GC has nothing to trace.
const (
	offPrev   = 0
	offNext   = 4
	offHNext  = 8
	offTime   = 12
	offExp    = 16
	offNBytes = 20
	offFlags  = 24
	offNKey   = 28
	offClass  = 29
	offIFlags = 30
	offLRU    = 31
	offCAS    = 32
	offKey    = 40

	itemHeader = offKey
)

// Item flags.
const (
	flagLinked  = 1 << 0
	flagFetched = 1 << 1
	flagChunked = 1 << 2
	flagStale   = 1 << 3 // meta: invalidated, value kept until recache
	flagToken   = 1 << 4 // meta: a client already won the recache
	flagActive  = 1 << 6 // read twice: segmented LRU rescues it into WARM
	flagSlabbed = 1 << 7 // a free chunk (memcached's ITEM_SLABBED)
)

func (s *Store) mem(ref uint32) []byte {
	off := uint64(ref) * chunkAlign
	return s.arena.mem[off : off+itemHeader]
}

func (s *Store) word(ref uint32, off int) uint32 {
	return binary.LittleEndian.Uint32(s.mem(ref)[off:])
}

func (s *Store) setWord(ref uint32, off int, v uint32) {
	binary.LittleEndian.PutUint32(s.mem(ref)[off:], v)
}

func (s *Store) cas(ref uint32) uint64 { return binary.LittleEndian.Uint64(s.mem(ref)[offCAS:]) }
func (s *Store) setCAS(ref uint32, v uint64) {
	binary.LittleEndian.PutUint64(s.mem(ref)[offCAS:], v)
}

func (s *Store) nkey(ref uint32) uint32  { return uint32(s.mem(ref)[offNKey]) }
func (s *Store) class(ref uint32) uint8  { return s.mem(ref)[offClass] }
func (s *Store) iflags(ref uint32) uint8 { return s.mem(ref)[offIFlags] }

// nextra is the number of continuation chunks of a chunked item; it follows
// from the sizes, so it is not stored.
func (s *Store) nextra(ref uint32) uint32 {
	_, extra := s.layout(s.nkey(ref), s.word(ref, offNBytes), s.word(ref, offFlags))
	return extra
}

func (s *Store) setIFlag(ref uint32, f uint8) {
	s.mem(ref)[offIFlags] |= f
}
func (s *Store) clearIFlag(ref uint32, f uint8) {
	s.mem(ref)[offIFlags] &^= f
}

func (s *Store) key(ref uint32) []byte {
	return s.arena.bytes(ref, itemHeader+s.nkey(ref))[itemHeader:]
}

// extraRef returns continuation chunk i of a chunked item.
func (s *Store) extraRef(ref uint32, i uint32) uint32 {
	off := itemHeader + s.nkey(ref) + 4*i
	return binary.LittleEndian.Uint32(s.arena.bytes(ref, off+4)[off:])
}

func (s *Store) setExtraRef(ref uint32, i uint32, v uint32) {
	off := itemHeader + s.nkey(ref) + 4*i
	binary.LittleEndian.PutUint32(s.arena.bytes(ref, off+4)[off:], v)
}

// segments appends the item's value memory to dst in order: one slice for a
// plain item, several for a chunked one.
func (s *Store) segments(dst [][]byte, ref uint32) [][]byte {
	n := s.word(ref, offNBytes)
	nk := s.nkey(ref)
	if s.iflags(ref)&flagChunked == 0 {
		return append(dst, s.arena.bytes(ref, itemHeader+nk+n)[itemHeader+nk:])
	}
	extra := s.nextra(ref)
	start := itemHeader + nk + 4*extra
	head := s.chunkMax - start
	if head > n {
		head = n
	}
	dst = append(dst, s.arena.bytes(ref, start+head)[start:])
	n -= head
	for i := uint32(0); i < extra && n > 0; i++ {
		part := min(n, s.chunkMax)
		dst = append(dst, s.arena.bytes(s.extraRef(ref, i), part))
		n -= part
	}
	return dst
}

// appendValue copies the item's value to dst.
func (s *Store) appendValue(dst []byte, ref uint32) []byte {
	if s.iflags(ref)&flagChunked == 0 {
		nk := s.nkey(ref)
		n := s.word(ref, offNBytes)
		return append(dst, s.arena.bytes(ref, itemHeader+nk+n)[itemHeader+nk:]...)
	}
	var segs [16][]byte
	for _, seg := range s.segments(segs[:0], ref) {
		dst = append(dst, seg...)
	}
	return dst
}

// memcachedTotal is the size memcached would account for this item
// (ITEM_ntotal). The -I limit and the `bytes`/mem_requested stats use it so
// that limits and stats read the same as on memcached, whatever our own
// header costs.
func (s *Store) memcachedTotal(nkey int, flags uint32, nbytes int) uint64 {
	t := uint64(headerSize + nkey + 1 + nbytes + 2)
	if flags != 0 {
		t += 4
	}
	if s.cfg.CAS {
		t += 8
	}
	return t
}

// layout decides where an item of this size lives: its class, and for
// items larger than one chunk, how many continuation chunks it needs.
func (s *Store) layout(nkey, nbytes, flags uint32) (class uint8, extra uint32) {
	n := itemHeader + nkey + nbytes
	if n <= s.chunkMax {
		// The class is chosen by memcached's item size, never smaller than
		// ours, so an item lands in the same class as on memcached and
		// stats slabs and evictions read the same.
		mc := s.memcachedTotal(int(nkey), flags, int(nbytes))
		return s.classFor(uint32(min(mc, uint64(s.chunkMax)))), 0
	}
	// Each continuation chunk adds chunkMax bytes but costs a 4-byte ref
	// in the head chunk.
	over := n - s.chunkMax
	extra = (over + s.chunkMax - 5) / (s.chunkMax - 4)
	return uint8(len(s.classes) - 1), extra
}
