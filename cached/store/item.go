package store

import "encoding/binary"

// Item header, stored at the start of the item's chunk. It holds only what
// this store reads back, and an item is placed in the smallest chunk class
// that holds its real size, so more items fit in the same memory than in
// memcached (whose item header is 48 bytes, plus 8 for the CAS, a NUL after
// the key and the value's CRLF):
//
//	0  prev   uint32  LRU link
//	4  next   uint32  LRU link
//	8  time   uint32  last access (server-relative seconds)
//	12 len    uint32  bits 0-19 value length (no CRLF is stored), 20-21 LRU
//	                  segment (HOT, WARM, COLD, TEMP), 22 free chunk, 23 exp
//	                  field present, 24-31 key length
//	16 iflags uint8
//	17 cas    uint64  only when CAS is enabled (not -C)
//	   flags  uint32  only when the client flags are not 0 (flagClientFlags)
//	   exp    uint32  expiry (server-relative seconds); only when the item
//	                  was stored or later given one (expBit), see expiry.go
//	   key, then the value; a chunked item has, between them, its whole
//	   value length (uint32) and its continuation chunks' refs (uint32 each)
//
// A plain item's value fits in one chunk, at most a 1 MiB page, so 20 bits
// hold its length; only chunked items, up to -I, need the extra word. The
// class is not stored: it is the class of the page the chunk is in, and
// there is no hash-chain link: the index (index.go) is open-addressed.
// Links are refs, not pointers, so the GC has nothing to trace. Fields are
// read unaligned, which costs nothing on the machines this runs on.
const (
	offPrev   = 0
	offNext   = 4
	offTime   = 8
	offLen    = 12
	offIFlags = 16
	offCAS    = 17

	// fixedHeader is the header without its optional fields.
	fixedHeader = offCAS
	casBytes    = 8
	flagsBytes  = 4
	expBytes    = 4
	// maxHeader is the largest header: CAS, client flags and expiry.
	maxHeader = fixedHeader + casBytes + flagsBytes + expBytes

	// The len word's fields.
	lenBits   = 20
	lenMask   = 1<<lenBits - 1
	segShift  = lenBits
	freeBit   = 1 << 22
	expShift  = 23
	expBit    = 1 << expShift
	nkeyShift = 24
)

// Item flags.
const (
	flagLinked      = 1 << 0
	flagFetched     = 1 << 1
	flagChunked     = 1 << 2
	flagStale       = 1 << 3 // meta: invalidated, value kept until recache
	flagToken       = 1 << 4 // meta: a client already won the recache
	flagActive      = 1 << 6 // read twice: segmented LRU rescues it into WARM
	flagClientFlags = 1 << 7 // the header holds non-zero client flags; the top bit, keyOff relies on it
)

func (s *Store) mem(ref uint32) []byte {
	off := uint64(ref) * chunkAlign
	return s.arena.mem[off : off+maxHeader]
}

func (s *Store) word(ref uint32, off int) uint32 {
	return binary.LittleEndian.Uint32(s.mem(ref)[off:])
}

func (s *Store) setWord(ref uint32, off int, v uint32) {
	binary.LittleEndian.PutUint32(s.mem(ref)[off:], v)
}

// cas is the item's CAS; 0 when CAS is disabled, as memcached reports it.
func (s *Store) cas(ref uint32) uint64 {
	if !s.cfg.CAS {
		return 0
	}
	return binary.LittleEndian.Uint64(s.mem(ref)[offCAS:])
}

func (s *Store) setCAS(ref uint32, v uint64) {
	if s.cfg.CAS {
		binary.LittleEndian.PutUint64(s.mem(ref)[offCAS:], v)
	}
}

func (s *Store) flags(ref uint32) uint32 {
	if s.iflags(ref)&flagClientFlags == 0 {
		return 0
	}
	return s.word(ref, int(s.flagsAt))
}

// headerLen is the header size of an item with these client flags, with
// or without an expiry field.
func (s *Store) headerLen(flags uint32, hasExp bool) uint32 {
	n := s.flagsAt
	if flags != 0 {
		n += flagsBytes
	}
	if hasExp {
		n += expBytes
	}
	return n
}

// expOff is where the item's expiry field is, if it has one: after the
// flags when it has them (flagClientFlags is the top bit, so no branch is
// needed).
func (s *Store) expOff(ref uint32) uint32 {
	return s.flagsAt + uint32(s.iflags(ref)>>7)*flagsBytes
}

// keyOff is where the item's key starts, after the optional fields.
func (s *Store) keyOff(ref uint32) uint32 {
	return s.expOff(ref) + (s.word(ref, offLen)>>expShift&1)*expBytes
}

func (s *Store) hasExp(ref uint32) bool { return s.word(ref, offLen)&expBit != 0 }

func (s *Store) nkey(ref uint32) uint32 { return s.word(ref, offLen) >> nkeyShift }

// nbytes is the item's value length.
func (s *Store) nbytes(ref uint32) uint32 {
	w := s.word(ref, offLen)
	if s.iflags(ref)&flagChunked == 0 {
		return w & lenMask
	}
	off := s.keyOff(ref) + w>>nkeyShift
	return binary.LittleEndian.Uint32(s.arena.bytes(ref, off+4)[off:])
}

// setLengths records a new item's key and value lengths (clearing the
// free mark, segment HOT) and whether it has an expiry field; chunked must
// be set already for a chunked item, whose key must be in place.
func (s *Store) setLengths(ref uint32, nkey, nbytes uint32, hasExp bool) {
	w := nkey<<nkeyShift | nbytes&lenMask
	if hasExp {
		w |= expBit
	}
	s.setWord(ref, offLen, w)
	if s.iflags(ref)&flagChunked != 0 {
		off := s.keyOff(ref) + nkey
		binary.LittleEndian.PutUint32(s.arena.bytes(ref, off+4)[off:], nbytes)
	}
}

func (s *Store) class(ref uint32) uint8  { return s.pageClass[ref>>s.refPageShift] }
func (s *Store) iflags(ref uint32) uint8 { return s.mem(ref)[offIFlags] }

// isFree reports a chunk on its class's free list (memcached's ITEM_SLABBED).
func (s *Store) isFree(ref uint32) bool { return s.word(ref, offLen)&freeBit != 0 }

// nextra is the number of continuation chunks of a chunked item; it follows
// from the sizes, so it is not stored.
func (s *Store) nextra(ref uint32) uint32 {
	_, extra := s.layout(s.nkey(ref), s.nbytes(ref), s.flags(ref), s.hasExp(ref))
	return extra
}

func (s *Store) setIFlag(ref uint32, f uint8) {
	s.mem(ref)[offIFlags] |= f
}
func (s *Store) clearIFlag(ref uint32, f uint8) {
	s.mem(ref)[offIFlags] &^= f
}

func (s *Store) key(ref uint32) []byte {
	off := s.keyOff(ref)
	return s.arena.bytes(ref, off+s.nkey(ref))[off:]
}

// extraRef returns continuation chunk i of a chunked item.
func (s *Store) extraRef(ref uint32, i uint32) uint32 {
	off := s.keyOff(ref) + s.nkey(ref) + 4 + 4*i
	return binary.LittleEndian.Uint32(s.arena.bytes(ref, off+4)[off:])
}

func (s *Store) setExtraRef(ref uint32, i uint32, v uint32) {
	off := s.keyOff(ref) + s.nkey(ref) + 4 + 4*i
	binary.LittleEndian.PutUint32(s.arena.bytes(ref, off+4)[off:], v)
}

// valueOff is where a plain (unchunked) item's value starts, and where a
// chunked item's length word is.
func (s *Store) valueOff(ref uint32) uint32 { return s.keyOff(ref) + s.nkey(ref) }

// segments appends the item's value memory to dst in order: one slice for a
// plain item, several for a chunked one.
func (s *Store) segments(dst [][]byte, ref uint32) [][]byte {
	n := s.nbytes(ref)
	if s.iflags(ref)&flagChunked == 0 {
		start := s.valueOff(ref)
		return append(dst, s.arena.bytes(ref, start+n)[start:])
	}
	extra := s.nextra(ref)
	start := s.valueOff(ref) + 4 + 4*extra
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

// plainValue is the value of an item in one chunk, in the slab.
func (s *Store) plainValue(ref uint32) []byte {
	w := s.word(ref, offLen)
	start := s.expOff(ref) + (w>>expShift&1)*expBytes + w>>nkeyShift
	return s.arena.bytes(ref, start+w&lenMask)[start:]
}

// appendValue copies the item's value to dst.
func (s *Store) appendValue(dst []byte, ref uint32) []byte {
	if s.iflags(ref)&flagChunked == 0 {
		return append(dst, s.plainValue(ref)...)
	}
	var segs [16][]byte
	for _, seg := range s.segments(segs[:0], ref) {
		dst = append(dst, seg...)
	}
	return dst
}
