package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Memory layout.
//
// All item memory lives in one anonymous mapping reserved up front with
// MAP_NORESERVE: the kernel only backs the pages we touch, so RSS grows the
// way memcached's malloc'd slab pages do, and the Go garbage collector never
// sees item memory at all — millions of items cost the GC nothing. With a
// memory file (-e) the mapping is that file's instead, shared, so the items
// outlive the process for a warm restart (restart.go).
//
// The anonymous mapping goes on transparent huge pages as it fills, unless
// -o no_huge_pages (hugepages.go).
//
// Chunks are addressed by a uint32 ref: the byte offset in the arena divided
// by chunkAlign. Page 0 is never handed out, so ref 0 means "none".
const (
	chunkAlign  = 8       // memcached's CHUNK_ALIGN_BYTES
	maxArena    = 1 << 35 // 32 GiB: the most a uint32 ref of 8-byte units reaches
	maxClasses  = 63      // memcached's MAX_NUMBER_OF_SLAB_CLASSES - 1
	smallestCls = 1       // memcached's POWER_SMALLEST
)

// slabClass is one chunk size with its pages, free chunks and LRU.
type slabClass struct {
	size    uint32 // chunk size in bytes
	perPage uint32 // chunks per page

	pages    uint32   // pages assigned to this class
	pageList []uint32 // their page numbers, oldest first (the mover takes the oldest)
	freeHead uint32   // free-list of released chunks, doubly linked through prev/next
	nfree    uint32
	endRef   uint32 // next never-used chunk of the newest page (carved lazily)
	endLeft  uint32 // chunks left after endRef in the newest page
	used     uint32 // chunks handed out

	lru   [numSegments]lruList
	crawl [numSegments]crawlCursor

	st classStats
}

// items is the number of linked items of the class, all segments.
func (c *slabClass) items() uint32 {
	var n uint32
	for i := range c.lru {
		n += c.lru[i].items
	}
	return n
}

// requested is memcached's mem_requested: the bytes of the linked items.
func (c *slabClass) requested() uint64 {
	var n uint64
	for i := range c.lru {
		n += c.lru[i].bytes
	}
	return n
}

// classStats mirrors memcached's per-class counters (stats slabs / stats items).
type classStats struct {
	GetHits, CmdSet, DeleteHits, IncrHits, DecrHits, CASHits, CASBadval, TouchHits uint64

	Evicted, EvictedNonzero, EvictedActive, OutOfMemory      uint64
	Reclaimed, ExpiredUnfetched, EvictedUnfetched            uint64
	CrawlerReclaimed, CrawlerItemsChecked, LRUTailReflocked  uint64
	MovesToCold, MovesToWarm, MovesWithinLRU, DirectReclaims uint64
	EvictedTime                                              uint32
	// HitsToSegment counts read hits by the segment the item was in:
	// memcached's hits_to_hot, hits_to_warm, hits_to_cold, hits_to_temp.
	HitsToSegment [numSegments]uint64
}

// arena is the mapped item memory plus the page allocator.
type arena struct {
	mem       []byte
	pageSize  uint32
	nextPage  uint32 // index of the next page never handed out
	maxPages  uint32 // pages the mapping holds
	limit     uint64 // -m in bytes; 0 = unlimited
	malloced  uint64 // bytes of pages handed out (total_malloced)
	limitSeen bool
	// pool is memcached's global page pool: pages the mover took from a
	// class with memory to spare, handed out again before new ones.
	pool []uint32
	// released are pages given back to the kernel after cache_memlimit
	// lowered the limit below what was allocated (release); they are
	// handed out again, under the limit, before pages never used.
	released []uint32
	// hugePages: item memory goes on transparent huge pages (hugepages.go);
	// collapse lists the huge pages whose arena pages have all been handed
	// out since the maintainer last collapsed them.
	hugePages  bool
	collapse   []pendingCollapse
	noCollapse bool // the kernel has no MADV_COLLAPSE

	file    *memFile     // the memory file (-e); nil for anonymous memory
	persist persistState // what a warm restart saves and found (persist.go)
}

// newArena maps the item memory: anonymous, or the memory file at path.
func newArena(limit uint64, pageSize uint32, classes int, path string, hugePages bool) (*arena, error) {
	// Every class may take its first page past the limit, as memcached
	// allows, so the mapping leaves room for one extra page per class.
	need := limit + uint64(classes+2)*uint64(pageSize)
	if limit == 0 || need > maxArena {
		need = maxArena
	}
	if path != "" {
		return newFileArena(limit, pageSize, need, path)
	}
	// Reserve the whole addressable range when the kernel lets us, so that
	// cache_memlimit can raise the limit later; untouched pages cost no RSS.
	reserve := uint64(maxArena)
	mem, err := mmapAnon(reserve, uint64(pageSize))
	if err != nil {
		reserve = need
		mem, err = mmapAnon(reserve, uint64(pageSize))
	}
	if err != nil {
		return nil, fmt.Errorf("reserving %d MiB of item memory: %w", reserve>>20, err)
	}
	return &arena{
		mem:       mem,
		pageSize:  pageSize,
		nextPage:  1, // page 0 backs ref 0, which means "none"
		maxPages:  uint32(reserve / uint64(pageSize)),
		limit:     limit,
		hugePages: hugePages,
	}, nil
}

// newFileArena maps need bytes of the memory file. The whole mapping is the
// file's: unlike anonymous memory it cannot be reserved beyond the limit,
// so cache_memlimit cannot raise the limit past it, as in memcached.
func newFileArena(limit uint64, pageSize uint32, need uint64, path string) (*arena, error) {
	f, err := openMemFile(path)
	if err != nil {
		return nil, err
	}
	mem, err := f.mapFile(need)
	if err != nil {
		f.close()
		return nil, err
	}
	return &arena{
		mem:      mem,
		pageSize: pageSize,
		nextPage: 1,
		maxPages: uint32(need / uint64(pageSize)),
		limit:    limit,
		file:     f,
	}, nil
}

func (a *arena) close() error {
	if a.mem == nil {
		return nil
	}
	err := munmap(a.mem)
	a.mem = nil
	return errors.Join(err, a.file.close())
}

// newPage hands out one page, or reports false when the memory limit is
// reached. firstForClass lets a class with no page yet exceed the limit, as
// memcached does, so that every size stays storable on a tiny -m.
func (a *arena) newPage(firstForClass bool) (uint32, bool) {
	if n := len(a.pool); n > 0 {
		p := a.pool[n-1]
		a.pool = a.pool[:n-1]
		return p, true
	}
	if a.nextPage >= a.maxPages && len(a.released) == 0 {
		return 0, false
	}
	if a.limit != 0 && a.malloced+uint64(a.pageSize) > a.limit && !firstForClass {
		a.limitSeen = true
		return 0, false
	}
	var p uint32
	if n := len(a.released); n > 0 {
		p = a.released[n-1]
		a.released = a.released[:n-1]
	} else {
		p = a.nextPage
		a.nextPage++
		a.completeHugePages(p)
	}
	a.malloced += uint64(a.pageSize)
	return p, true
}

// release gives pooled pages back to the kernel while more is allocated
// than the limit allows, as memcached's memory_release frees them after
// cache_memlimit lowers the limit. Memory in a file (-e) is kept, as
// memcached keeps its preallocated memory: a warm restart needs it.
func (a *arena) release() {
	if a.file != nil || a.limit == 0 {
		return
	}
	for a.malloced > a.limit && len(a.pool) > 0 {
		p := a.pool[len(a.pool)-1]
		if a.hugePages {
			_ = adviseBasePages(a.page(p))
		}
		if dropPages(a.page(p)) != nil {
			// The page stays allocated and pooled; nothing is lost.
			return
		}
		a.pool = a.pool[:len(a.pool)-1]
		a.released = append(a.released, p)
		a.malloced -= uint64(a.pageSize)
	}
}

// dropPages gives b's memory back to the kernel; the range stays mapped
// and reads as zeros when touched again.
func dropPages(b []byte) error { return unix.Madvise(b, unix.MADV_DONTNEED) }

// page is page p's memory.
func (a *arena) page(p uint32) []byte {
	off := uint64(p) * uint64(a.pageSize)
	return a.mem[off : off+uint64(a.pageSize)]
}

func (a *arena) pageRef(page uint32) uint32 {
	return uint32(uint64(page) * uint64(a.pageSize) / chunkAlign)
}

// bytes returns the n bytes of the chunk starting at ref.
func (a *arena) bytes(ref uint32, n uint32) []byte {
	off := uint64(ref) * chunkAlign
	return a.mem[off : off+uint64(n) : off+uint64(n)]
}

// classTable is the slab class table the configuration asks for: -o
// slab_sizes' list when given, else -f's series.
func (c Config) classTable() ([]uint32, error) {
	if c.SlabSizes == "" {
		return classSizes(c.MinChunk, c.GrowthFactor, c.ChunkMax, c.PageSize), nil
	}
	list, err := parseSlabSizes(c.SlabSizes, c.MinChunk, c.ChunkMax)
	if err != nil {
		return nil, err
	}
	return customClassSizes(list, c.ChunkMax), nil
}

// customClassSizes is the table -o slab_sizes gives: its sizes, each
// rounded up to the chunk alignment as memcached rounds them, then the
// largest chunk.
func customClassSizes(list []uint32, chunkMax uint32) []uint32 {
	sizes := []uint32{0}
	for _, n := range list {
		if n%chunkAlign != 0 {
			n += chunkAlign - n%chunkAlign
		}
		sizes = append(sizes, n)
	}
	return append(sizes, chunkMax)
}

// parseSlabSizes reads -o slab_sizes (sizes joined by '-') with
// memcached's checks and messages: each at least -n and at most
// slab_chunk_max, each more than chunkAlign bytes above the one before.
func parseSlabSizes(spec string, minChunk int, chunkMax uint32) ([]uint32, error) {
	var out []uint32
	var last uint32
	for _, f := range strings.Split(spec, "-") {
		if f == "" {
			continue // strtok_r skips empty fields
		}
		n, err := strconv.ParseUint(f, 10, 64)
		size := uint32(n) // safe_strtoul's 32-bit result
		switch {
		case err != nil || int64(size) < int64(minChunk) || size > chunkMax:
			return nil, fmt.Errorf("slab size %d is out of valid range", size)
		case last >= size:
			return nil, fmt.Errorf("slab size %d cannot be lower than or equal to a previous class size", size)
		case size <= last+chunkAlign:
			return nil, fmt.Errorf("slab size %d must be at least %d bytes larger than previous class", size, chunkAlign)
		}
		out = append(out, size)
		last = size
		if len(out) >= maxClasses {
			return nil, errors.New("too many slab classes specified")
		}
	}
	if len(out) == 0 {
		return nil, errors.New("slab_sizes: no sizes given; write them joined by '-', as in slab_sizes=96-120-152")
	}
	return out, nil
}

// classSizes computes memcached's slab class table: the first class holds
// an item header plus minChunk bytes, each next class is factor times larger
// (8-byte aligned), and the last class is exactly chunkMax.
func classSizes(minChunk int, factor float64, chunkMax, pageSize uint32) []uint32 {
	sizes := []uint32{0} // class 0 is unused, as in memcached
	size := float64(memcachedHeader + minChunk)
	for len(sizes) < maxClasses {
		if size >= float64(chunkMax)/factor {
			break
		}
		s := uint32(size)
		if s%chunkAlign != 0 {
			s += chunkAlign - s%chunkAlign
		}
		sizes = append(sizes, s)
		size = float64(s) * factor
	}
	return append(sizes, chunkMax)
}

// allocChunk takes a chunk from class c: a released one, then an uncarved
// one, then a new page. It does not evict; the caller does.
func (s *Store) allocChunk(id uint8) (uint32, bool) {
	c := &s.classes[id]
	if c.freeHead == 0 && c.endLeft == 0 {
		page, ok := s.arena.newPage(c.pages == 0)
		if !ok {
			return 0, false
		}
		s.addPage(id, page)
	}
	return s.takeChunk(id), true
}

// takeChunk takes a released or uncarved chunk the class has (one of
// them must exist).
func (s *Store) takeChunk(id uint8) uint32 {
	c := &s.classes[id]
	c.used++
	if ref := c.freeHead; ref != 0 {
		s.cutFree(id, ref)
		return ref
	}
	ref := c.endRef
	c.endRef += c.size / chunkAlign
	c.endLeft--
	return ref
}

// addPage gives a class a page (new, from the pool, or moved): carved
// lazily when the class is not carving another one, else all free at once.
func (s *Store) addPage(id uint8, page uint32) {
	c := &s.classes[id]
	c.pages++
	c.pageList = append(c.pageList, page)
	s.pageClass[page] = id
	ref := s.arena.pageRef(page)
	if c.endLeft == 0 {
		c.endRef, c.endLeft = ref, c.perPage
		return
	}
	for i := uint32(0); i < c.perPage; i++ {
		s.pushFree(id, ref+i*(c.size/chunkAlign))
	}
}

// freeChunk returns a chunk to its class's free list.
func (s *Store) freeChunk(id uint8, ref uint32) {
	s.pushFree(id, ref)
	s.classes[id].used--
}

// pushFree puts a chunk at the head of the free list and marks it free,
// which is how the slab mover tells free chunks from items.
func (s *Store) pushFree(id uint8, ref uint32) {
	c := &s.classes[id]
	s.setWord(ref, offPrev, 0)
	s.setWord(ref, offNext, c.freeHead)
	if c.freeHead != 0 {
		s.setWord(c.freeHead, offPrev, ref)
	}
	s.mem(ref)[offIFlags] = 0
	s.setWord(ref, offLen, freeBit)
	c.freeHead = ref
	c.nfree++
}

// cutFree takes a chunk off the free list, wherever it is in it.
func (s *Store) cutFree(id uint8, ref uint32) {
	c := &s.classes[id]
	prev, next := s.word(ref, offPrev), s.word(ref, offNext)
	if prev != 0 {
		s.setWord(prev, offNext, next)
	} else {
		c.freeHead = next
	}
	if next != 0 {
		s.setWord(next, offPrev, prev)
	}
	s.mem(ref)[offIFlags] = 0
	c.nfree--
}

// classFor returns the smallest class whose chunks hold n bytes, or the
// largest class when n needs several chunks.
func (s *Store) classFor(n uint32) uint8 {
	// Binary search: the table is sorted and this runs on every store.
	lo, hi := smallestCls, len(s.classes)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if s.classes[mid].size >= n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return uint8(lo)
}
