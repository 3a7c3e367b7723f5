package store

import "encoding/binary"

// Item sizes. An item's real size is what it occupies in its chunk: the
// header (item.go), the key and the value, plus, when it spans several
// chunks, its length word and a 4-byte ref per continuation chunk. By default the real size picks
// the item's chunk class and is what `bytes`, mem_requested, metadump's and
// `me`'s size and the HOT and WARM limits count. The class table stays
// memcached's; items simply land in smaller classes than memcached would
// put them in.
//
// With Config.MemcachedItemSizes (-o memcached_item_sizes) the size
// memcached 1.6.18 accounts (ITEM_ntotal) picks the class and fills the
// stats instead, so `stats slabs` and `bytes` read byte for byte as
// memcached's for the same items, at the cost of holding no more items.

// memcachedHeader is memcached's sizeof(item) on 64-bit builds. The class
// table starts from it, and the -I limit counts it, so the largest value
// accepted and every chunk size are memcached's whatever our header costs.
const memcachedHeader = 48

// memcachedTotal is the size memcached accounts for an item (ITEM_ntotal):
// header, CAS when enabled, key and its NUL, client flags when not 0, and
// the value with its CRLF.
func (s *Store) memcachedTotal(nkey int, flags uint32, nbytes int) uint64 {
	t := uint64(memcachedHeader + nkey + 1 + nbytes + 2)
	if flags != 0 {
		t += 4
	}
	if s.cfg.CAS {
		t += 8
	}
	return t
}

// tooLarge is memcached's item size check against -I, which counts
// memcached's item size, so the same values are refused under both daemons.
func (s *Store) tooLarge(nkey int, flags uint32, nbytes int) bool {
	return nbytes < 0 || s.memcachedTotal(nkey, flags, nbytes) > uint64(s.cfg.ItemSizeMax)
}

// itemSize is the size the store accounts for an item of these sizes.
func (s *Store) itemSize(nkey, flags, nbytes uint32, hasExp bool) uint64 {
	if s.cfg.MemcachedItemSizes {
		return s.memcachedTotal(int(nkey), flags, int(nbytes))
	}
	n := uint64(s.headerLen(flags, hasExp)) + uint64(nkey) + uint64(nbytes)
	if n > uint64(s.chunkMax) {
		_, extra := s.layout(nkey, nbytes, flags, hasExp)
		n += 4 + 4*uint64(extra)
	}
	return n
}

// totalOf is itemSize of a stored item. Every link and unlink asks, so a
// plain item's real size is read straight from its header.
func (s *Store) totalOf(ref uint32) uint64 {
	m := s.mem(ref)
	if f := m[offIFlags]; f&flagChunked == 0 && !s.cfg.MemcachedItemSizes {
		w := binary.LittleEndian.Uint32(m[offLen:])
		return uint64(s.flagsAt + uint32(f>>7)*flagsBytes + (w>>expShift&1)*expBytes + w>>nkeyShift + w&lenMask)
	}
	return s.itemSize(s.nkey(ref), s.flags(ref), s.nbytes(ref), s.hasExp(ref))
}

// layout decides where an item of this size lives: its class, and for
// items larger than one chunk, how many continuation chunks it needs.
func (s *Store) layout(nkey, nbytes, flags uint32, hasExp bool) (class uint8, extra uint32) {
	n := s.headerLen(flags, hasExp) + nkey + nbytes
	if n <= s.chunkMax {
		if s.cfg.MemcachedItemSizes {
			// memcached's size is never smaller than ours, so the item
			// lands in the class memcached would choose.
			mc := s.memcachedTotal(int(nkey), flags, int(nbytes))
			return s.classFor(uint32(min(mc, uint64(s.chunkMax)))), 0
		}
		return s.classFor(n), 0
	}
	// The head chunk holds the whole length in a word of its own, and
	// each continuation chunk adds chunkMax bytes but costs a 4-byte ref
	// in the head chunk.
	over := n + 4 - s.chunkMax
	extra = (over + s.chunkMax - 5) / (s.chunkMax - 4)
	return uint8(len(s.classes) - 1), extra
}
