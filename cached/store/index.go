package store

import (
	"bytes"
	"hash/maphash"
	"unsafe"
)

// The hash index is an open-addressing table with linear probing: a
// power-of-two array of uint64 slots, each the top 32 bits of the key's
// hash (the tag) above the item's ref. Items carry no hash-chain link, so
// each item is 4 bytes smaller in the slabs than with memcached's chained
// table, and a probe compares tags in one pointer-free slice (which the GC
// does not scan) before it reads a key from slab memory. Like memcached's
// table the index lives outside -m: 8 bytes a slot at a load of 3/8 to 3/4,
// so 11 to 21 bytes an item.
//
// An item's home slot is its tag masked to the table size, so moving an
// entry to a resized table needs no key hashing and no slab read. The
// table is resized a few slots per insert, as memcached's background
// expansion does: rehashing millions of items in one go under the store
// lock stalled every client for most of a second at 3 million items. While
// it is resized, lookups try the new array, then the old.
//
// A delete shifts the following entries of its cluster back (Knuth's
// algorithm R), so the table keeps no tombstones, except where entries
// must not move: in the old array while resizing (the migration empties
// it by position) and during a hash walk (metadump). Tombstones count as used
// until the next resize drops them.
//
// The arrays live outside the Go heap, and from 2 MiB up on huge pages
// where the kernel has them: at a million items the array is 16 MiB, and
// a lookup touching a random slot of it missed the TLB on 4 KiB pages (on
// a VM, a two-level page walk) before it missed the cache. An array is
// unmapped as soon as a resize has emptied it, as memcached frees its old
// table, where the Go heap would keep it resident until its scavenger
// got to it.
//
// The table has two slots for each of memcached's buckets: memcached
// expands at 1.5 items a bucket, this table at 3/4 of its slots, so both
// grow at the same item counts. hash_power_level and -o hashpower speak
// memcached's bucket power (level), one less than the slots' power.

const (
	initialHashPower = 16 // memcached's HASHPOWER_DEFAULT
	// migrateStep is how many old slots each insert moves while the table
	// is resized: the new array is at most 3/8 full when it starts and one
	// insert per 16 slots moved keeps it far from full when it ends.
	migrateStep  = 16
	maxHashPower = 31

	refMask = 1<<32 - 1
	// tomb marks a deleted entry a probe must pass: no item has ref 0.
	tomb = 1 << 32
)

var hashSeed = maphash.MakeSeed()

func hashKey(key []byte) uint64 { return maphash.Bytes(hashSeed, key) }

func tagOf(hv uint64) uint64 { return hv >> 32 }

type index struct {
	slots     []uint64
	mapped    bool // slots is mapped (allocSlots), not on the Go heap
	hugePages bool // advise mapped arrays for huge pages
	mask      uint64
	power     uint32
	count     uint32 // items, in either array
	used      uint32 // slots of slots holding an item or a tombstone
	tombs     uint32 // tombstones in slots

	// While resizing: the previous array, and how many of its slots have
	// been moved into slots.
	old       []uint64
	oldMapped bool
	oldMask   uint64
	migrated  uint64

	// walking holds resizing and backward shifts off while a metadump
	// walks the slots, as memcached's hash iterator blocks its expansion,
	// so that no entry moves under the walk.
	walking bool
}

// newIndex makes a table for memcached's hash power level (0 = 16).
func newIndex(level uint32, hugePages bool) index {
	if level == 0 {
		level = initialHashPower
	}
	power := min(level+1, maxHashPower)
	slots, mapped := allocSlots(1<<power, hugePages)
	return index{slots: slots, mapped: mapped, hugePages: hugePages, mask: 1<<power - 1, power: power}
}

// allocSlots makes an array of n empty slots, mapped outside the Go heap
// and, from 2 MiB up, advised for huge pages. A failed mapping falls back
// to the Go heap, where the table works the same.
func allocSlots(n uint64, hugePages bool) ([]uint64, bool) {
	b, err := mmapAnon(n*8, 0)
	if err != nil {
		return make([]uint64, n), false
	}
	if hugePages && len(b) >= hugePage {
		_ = adviseHugePages(b) // best effort, as for the arena
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), n), true
}

// freeSlots unmaps an array allocSlots mapped; the GC takes a fallback.
func freeSlots(slots []uint64, mapped bool) {
	if mapped {
		_ = munmap(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(slots))), len(slots)*8))
	}
}

// release frees both arrays; the index is empty afterwards.
func (x *index) release() {
	freeSlots(x.slots, x.mapped)
	freeSlots(x.old, x.oldMapped)
	*x = index{}
}

// level is memcached's hash_power_level for this table's size.
func (x *index) level() uint32 { return x.power - 1 }

func (x *index) expanding() bool { return x.old != nil }

// bytes is the index's memory, both arrays while resizing.
func (x *index) bytes() uint64 { return uint64(len(x.slots)+len(x.old)) * 8 }

// find returns the item with this key, or 0.
func (s *Store) find(key []byte, hv uint64) uint32 {
	x := &s.idx
	if ref := s.probe(x.slots, x.mask, key, hv); ref != 0 || x.old == nil {
		return ref
	}
	return s.probeOld(key, hv)
}

// probe looks for key in the current array, which always has empty slots.
func (s *Store) probe(slots []uint64, mask uint64, key []byte, hv uint64) uint32 {
	tag := tagOf(hv)
	for i := tag & mask; ; i = (i + 1) & mask {
		e := slots[i]
		if e == 0 {
			return 0
		}
		if e>>32 == tag && uint32(e) != 0 && s.keyIs(uint32(e), key) {
			return uint32(e)
		}
	}
}

// probeOld looks for key in the array being migrated, whose slots below
// migrated were emptied. An entry the migration has not reached yet lies
// at or past migrated, in a cluster that was unbroken from its home: so a
// probe that would start below migrated starts there, and one that wraps
// past the end goes on there. The count bounds a probe of an array with
// no empty slot left past migrated.
func (s *Store) probeOld(key []byte, hv uint64) uint32 {
	x := &s.idx
	tag := tagOf(hv)
	i := max(tag&x.oldMask, x.migrated)
	for n := uint64(len(x.old)) - x.migrated; n > 0; n-- {
		e := x.old[i]
		if e == 0 {
			return 0
		}
		if e>>32 == tag && uint32(e) != 0 && s.keyIs(uint32(e), key) {
			return uint32(e)
		}
		if i++; i > x.oldMask {
			i = x.migrated
		}
	}
	return 0
}

// keyIs reports whether item ref has this key.
func (s *Store) keyIs(ref uint32, key []byte) bool {
	if s.nkey(ref) != uint32(len(key)) {
		return false
	}
	off := s.keyOff(ref)
	return bytes.Equal(s.arena.bytes(ref, off+uint32(len(key)))[off:], key)
}

// slotOf returns the array and position holding item ref of hash hv.
func (x *index) slotOf(ref uint32, hv uint64) ([]uint64, uint64, bool) {
	want := tagOf(hv)<<32 | uint64(ref)
	if i, ok := seek(x.slots, x.mask, 0, want); ok {
		return x.slots, i, true
	}
	if x.old != nil {
		if i, ok := seek(x.old, x.oldMask, x.migrated, want); ok {
			return x.old, i, true
		}
	}
	return nil, 0, false
}

// seek finds the slot holding exactly entry e, probing as probe and
// probeOld do (from is 0 for the current array).
func seek(slots []uint64, mask, from, e uint64) (uint64, bool) {
	i := max((e>>32)&mask, from)
	for n := mask + 1 - from; n > 0; n-- {
		switch slots[i] {
		case e:
			return i, true
		case 0:
			return 0, false
		}
		if i++; i > mask {
			i = from
		}
	}
	return 0, false
}

// place puts entry e in the first free slot from its home; the caller
// made sure the key is not in the table.
func (x *index) place(e uint64) {
	for i := (e >> 32) & x.mask; ; i = (i + 1) & x.mask {
		switch x.slots[i] {
		case 0:
			x.used++
			x.slots[i] = e
			return
		case tomb:
			x.tombs--
			x.slots[i] = e
			return
		}
	}
}

func (s *Store) indexInsert(ref uint32, hv uint64) {
	x := &s.idx
	x.place(tagOf(hv)<<32 | uint64(ref))
	x.count++
	if x.expanding() {
		x.migrate(migrateStep)
		return
	}
	if uint64(x.used)*4 > uint64(len(x.slots))*3 {
		x.startResize()
	}
}

func (s *Store) indexDelete(ref uint32, hv uint64) {
	x := &s.idx
	slots, i, ok := x.slotOf(ref, hv)
	if !ok {
		return
	}
	x.count--
	old := &slots[0] != &x.slots[0]
	if old || x.walking || x.tombs > 0 {
		// Entries must stay where they are, or tombstones already break
		// the clusters a backward shift relies on.
		slots[i] = tomb
		if !old {
			x.tombs++
		}
		return
	}
	x.shiftBack(i)
	x.used--
}

// relocateEntry points the index at nref instead of ref (the slab mover's
// copy of the same item).
func (x *index) relocateEntry(ref, nref uint32, hv uint64) {
	if slots, i, ok := x.slotOf(ref, hv); ok {
		slots[i] = slots[i]&^refMask | uint64(nref)
	}
}

// shiftBack empties slot i, moving later entries of its cluster back
// where their probe from home still finds them.
func (x *index) shiftBack(i uint64) {
	for j := (i + 1) & x.mask; x.slots[j] != 0; j = (j + 1) & x.mask {
		home := (x.slots[j] >> 32) & x.mask
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = 0
}

// startResize begins moving the table into a new array: twice the size
// when items fill more than half of it, else the same size, which only
// drops tombstones. A hash walk defers it until the table is 15/16 full;
// past that an insert could find no free slot.
func (x *index) startResize() {
	if x.walking && uint64(x.used)*16 <= uint64(len(x.slots))*15 {
		return
	}
	power := x.power
	if uint64(x.count)*2 > uint64(len(x.slots)) && power < maxHashPower {
		power++
	}
	x.old, x.oldMapped, x.oldMask, x.migrated = x.slots, x.mapped, x.mask, 0
	x.power = power
	x.slots, x.mapped = allocSlots(1<<power, x.hugePages)
	x.mask = 1<<power - 1
	x.used, x.tombs = 0, 0
}

// migrate moves up to n old slots, in order, into the new array; probes
// of the old array skip the emptied ones (see probe).
func (x *index) migrate(n int) {
	for ; n > 0 && x.migrated < uint64(len(x.old)); n-- {
		if e := x.old[x.migrated]; e != 0 && e != tomb {
			x.place(e)
		}
		x.old[x.migrated] = 0
		x.migrated++
	}
	if x.migrated == uint64(len(x.old)) {
		freeSlots(x.old, x.oldMapped)
		x.old, x.oldMapped, x.oldMask, x.migrated = nil, false, 0, 0
	}
}
