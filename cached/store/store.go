// Package store is the daemon's item storage: memcached's slab allocator
// (1 MiB pages cut into chunk classes by a growth factor), a per-class LRU
// that evicts from the tail when memory is full, a chained hash index, lazy
// expiry and flush_all invalidation, and CAS from one global counter. Items
// carry a smaller header than memcached's and take the smallest class that
// holds their real size (item.go, size.go), so the same memory holds more.
//
// It knows nothing of the wire: callers hand it keys and values and get
// results and statistics back. One mutex guards everything; every operation
// is a few hash-bucket and list-link updates, far cheaper than the socket
// calls around it.
package store

import (
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Errors from Alloc.
var (
	ErrTooLarge = errors.New("object too large for cache")
	ErrNoMemory = errors.New("out of memory storing object")
)

// updateInterval is memcached's ITEM_UPDATE_INTERVAL: an item read within
// this many seconds of its last bump keeps its LRU position, so hot keys do
// not rewrite list links on every hit.
const updateInterval = 60

// Store is the item storage. All methods are safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	hist     sizeHistogram // stats sizes (sizes.go)
	coarse   *coarseClock  // nil when the caller supplied Config.Now
	cfg      Config
	arena    *arena
	classes  []slabClass // index 0 unused, as in memcached
	chunkMax uint32
	idx      index

	started    int64  // Unix time of server-relative second 0 (memcached's process_started)
	casSeq     uint64 // last CAS handed out
	oldestLive uint32 // flush_all: items last touched at or before this are gone
	oldestCAS  uint64 // flush_all: items with an older CAS are gone

	bg    *background // the LRU maintainer; nil when not running
	crawl crawler
	mover mover
	// noBackground keeps tests' stores free of goroutines: they run the
	// maintainer's and crawler's steps themselves, in step with their clock.
	noBackground bool

	// chunkHeads maps each continuation chunk of a chunked item to its
	// head chunk: continuation chunks are all value bytes, with no room
	// for a back pointer, and the slab mover must find the owner of every
	// chunk of a page it empties. Chunked items are large and few.
	chunkHeads map[uint32]uint32

	// pageClass is the class of every page of the arena (0 = none): an
	// item's class follows from where its chunk is, so items do not store
	// it. refPageShift turns a ref into its page number.
	pageClass    []uint8
	refPageShift uint32
	// flagsAt is where an item's client flags (or else its key) start:
	// after the CAS when CAS is enabled.
	flagsAt uint32

	pinned uint32            // an item an operation still reads; never evicted meanwhile
	reads  map[uint32]uint32 // items replies point into (pin.go): ref -> readers
	bytes  uint64            // accounted bytes of linked items (itemSize)
	total  uint64            // items ever linked
	st     Counters

	evictionHook atomic.Pointer[EvictionHook] // nil unless watch asks for evictions
}

// New creates a store; its memory is reserved but not touched. With
// Config.LRUMaintainer it starts the LRU maintainer, which Close stops.
func New(cfg Config) (*Store, error) {
	s, err := newIdle(cfg)
	if err != nil {
		return nil, err
	}
	s.noBackground = false
	if s.cfg.LRUMaintainer {
		s.startMaintainer()
	}
	if s.crawl.enabled {
		s.startCrawler()
	}
	if s.mover.enabled {
		s.startMover()
	}
	return s, nil
}

// newIdle creates a store without background work; tests drive it.
func newIdle(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var coarse *coarseClock
	if cfg.Now == nil {
		// Reading the clock on every request costs more than the hash
		// lookup on virtual machines without a fast vDSO clock, so, like
		// memcached's once-a-second timer, a ticker keeps a coarse clock.
		coarse = newCoarseClock()
		cfg.Now = coarse.now
	}
	sizes, err := cfg.classTable()
	if err != nil {
		return nil, err
	}
	if cfg.LargePages {
		if err := checkLargePages(); err != nil {
			return nil, err
		}
	}
	a, err := newArena(cfg.MemoryLimit, cfg.PageSize, len(sizes), cfg.MemoryFile, !cfg.NoHugePages)
	if err != nil {
		return nil, err
	}
	a.malloced = cfg.InitialMalloced
	s := &Store{
		coarse:   coarse,
		cfg:      cfg,
		arena:    a,
		classes:  make([]slabClass, len(sizes)),
		chunkMax: cfg.ChunkMax,
		idx:      newIndex(cfg.HashPower, !cfg.NoHugePages),
		// memcached starts its clock ITEM_UPDATE_INTERVAL+2 seconds in the
		// past so that fresh items are never mistaken for flushed ones.
		started: cfg.Now() - updateInterval - 2,
		crawl: crawler{
			enabled: cfg.LRUCrawler,
			sleep:   cfg.CrawlerSleep,
			tocrawl: cfg.CrawlerToCrawl,
			wake:    make(chan struct{}, 1),
			auto:    newAutoCrawl(len(sizes)),
		},
		mover: mover{
			enabled:  cfg.SlabReassign,
			automove: cfg.SlabAutomove,
			ratio:    cfg.SlabAutomoveRatio,
			window:   cfg.SlabAutomoveWindow,
			wake:     make(chan struct{}, 1),
		},
		noBackground: true,
		chunkHeads:   make(map[uint32]uint32),
		pageClass:    make([]uint8, a.maxPages),
		refPageShift: uint32(bits.TrailingZeros32(cfg.PageSize / chunkAlign)),
		flagsAt:      fixedHeader,
	}
	if cfg.CAS {
		s.flagsAt += casBytes
	}
	for i, sz := range sizes[1:] {
		s.classes[i+1] = slabClass{size: sz, perPage: cfg.PageSize / sz}
	}
	if cfg.TrackSizes {
		// Before a warm restart's items come back, so they are counted, as
		// memcached turns it on while reading its options.
		s.initSizes()
	}
	if err := s.restore(); err != nil {
		s.idx.release()
		a.close()
		return nil, err
	}
	if cfg.LargePages && cfg.MemoryFile == "" {
		if err := s.useLargePages(); err != nil {
			s.idx.release()
			a.close()
			return nil, err
		}
	}
	return s, nil
}

// Close releases the item memory, saving it first for a warm restart after
// PersistOnClose. The store must not be used afterwards; calling Close
// again returns the first call's result.
func (s *Store) Close() error {
	s.bg.halt()
	s.mu.Lock()
	crawl, move := s.crawl.bg, s.mover.bg
	s.crawl.bg, s.mover.bg = nil, nil
	s.mu.Unlock()
	crawl.halt()
	move.halt()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.coarse != nil {
		s.coarse.stop()
	}
	return s.closeArena()
}

// coarseClock is the Unix time in seconds, refreshed ten times a second.
// delta and paused are memcached-debug's debugtime: the clock can be moved
// and stopped, for tests that age items without sleeping.
type coarseClock struct {
	sec    atomic.Int64
	mu     sync.Mutex // guards delta and paused against the ticker's refresh
	delta  int64
	paused bool
	done   chan struct{}
	once   sync.Once
}

func newCoarseClock() *coarseClock {
	c := &coarseClock{done: make(chan struct{})}
	c.sec.Store(time.Now().Unix())
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c.refresh()
			case <-c.done:
				return
			}
		}
	}()
	return c
}

func (c *coarseClock) refresh() {
	c.mu.Lock()
	if !c.paused {
		c.sec.Store(time.Now().Unix() + c.delta)
	}
	c.mu.Unlock()
}

// shift moves the clock by d seconds at once, paused or not.
func (c *coarseClock) shift(d int64) {
	c.mu.Lock()
	c.delta += d
	c.sec.Add(d)
	c.mu.Unlock()
}

// pause stops the clock where it is; resuming carries on from real time
// plus the shifts, as memcached's clock does.
func (c *coarseClock) pause(p bool) {
	c.mu.Lock()
	c.paused = p
	c.mu.Unlock()
	c.refresh()
}

func (c *coarseClock) now() int64 { return c.sec.Load() }
func (c *coarseClock) stop()      { c.once.Do(func() { close(c.done) }) }

// Config returns the settings the store runs with, including those the
// crawler and mover commands changed since New.
func (s *Store) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cfg
	c.LRUCrawler, c.CrawlerSleep, c.CrawlerToCrawl = s.crawl.enabled, s.crawl.sleep, s.crawl.tocrawl
	m := &s.mover
	c.SlabReassign, c.SlabAutomove, c.SlabAutomoveRatio, c.SlabAutomoveWindow = m.enabled, m.automove, m.ratio, m.window
	return c
}

// Now is the current server-relative time in seconds (memcached's current_time).
func (s *Store) Now() uint32 { return uint32(s.cfg.Now() - s.started) }

// ShiftClock moves the store's clock by d seconds (debugtime N). It
// reports false for a store running on a clock its caller supplied.
func (s *Store) ShiftClock(d int64) bool {
	if s.coarse == nil {
		return false
	}
	s.coarse.shift(d)
	return true
}

// PauseClock stops or restarts the store's clock (debugtime p and r).
func (s *Store) PauseClock(p bool) bool {
	if s.coarse == nil {
		return false
	}
	s.coarse.pause(p)
	return true
}

// Started is the Unix time of server-relative second 0.
func (s *Store) Started() int64 { return s.started }

// maxDelta is memcached's REALTIME_MAXDELTA: larger expiry times are
// absolute Unix times, smaller ones are relative seconds.
const maxDelta = 60 * 60 * 24 * 30

// RelTime converts a client expiry time to server-relative time, as
// memcached's realtime(): 0 never expires, negative or past-absolute
// times are already expired, up to 30 days is relative, beyond that is an
// absolute Unix time.
func (s *Store) RelTime(exptime int64) uint32 {
	switch {
	case exptime == 0:
		return 0
	case exptime < 0:
		return 1
	case exptime > maxDelta:
		if exptime <= s.started {
			return 1
		}
		return clampRel(exptime - s.started)
	default:
		return clampRel(exptime + int64(s.Now()))
	}
}

func clampRel(v int64) uint32 {
	if v > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(v)
}

// AbsTime converts a server-relative time back to Unix time (0 stays 0).
func (s *Store) AbsTime(rel uint32) int64 {
	if rel == 0 {
		return 0
	}
	return int64(rel) + s.started
}

func (s *Store) nextCAS() uint64 {
	if !s.cfg.CAS {
		return 0
	}
	s.casSeq++
	return s.casSeq
}

func (s *Store) expired(ref uint32, now uint32) bool {
	exp := s.exp(ref)
	return exp != 0 && exp <= now
}

func (s *Store) flushed(ref uint32, now uint32) bool {
	if s.oldestLive == 0 || s.oldestLive > now {
		return false
	}
	if s.word(ref, offTime) <= s.oldestLive {
		return true
	}
	cas := s.cas(ref)
	return s.oldestCAS != 0 && cas != 0 && cas < s.oldestCAS
}

// lookup finds a live item, lazily unlinking it if it expired or was
// flushed — that is the only expiry this store needs: dead items are
// invisible at once, and their memory is reused by the LRU tail scan.
func (s *Store) lookup(key []byte, hv uint64, now uint32) uint32 {
	ref, _ := s.lookupStatus(key, hv, now)
	return ref
}

// lookupStatus is lookup that also says why it missed, for watch's
// item_get lines.
func (s *Store) lookupStatus(key []byte, hv uint64, now uint32) (uint32, LookupStatus) {
	ref := s.find(key, hv)
	if ref == 0 {
		return 0, LookupNotFound
	}
	if s.flushed(ref, now) {
		s.unlink(ref, hv)
		s.st.GetFlushed++
		return 0, LookupFlushed
	}
	if s.expired(ref, now) {
		s.unlink(ref, hv)
		s.st.GetExpired++
		return 0, LookupExpired
	}
	return ref, LookupFound
}

// link makes a filled item visible with a fresh CAS.
func (s *Store) link(ref uint32, hv uint64, now uint32) uint64 {
	cas := s.nextCAS()
	s.setCAS(ref, cas)
	s.setWord(ref, offTime, now)
	s.setIFlag(ref, flagLinked)
	s.indexInsert(ref, hv)
	t := s.totalOf(ref)
	s.lruLink(ref, s.newSegment(s.exp(ref), now), t)
	s.bytes += t
	s.total++
	s.countSize(ref, 1)
	return cas
}

// unlink removes an item from the index and LRU and frees its memory.
func (s *Store) unlink(ref uint32, hv uint64) {
	s.countSize(ref, -1)
	s.indexDelete(ref, hv)
	t := s.totalOf(ref)
	s.lruUnlink(ref, t)
	s.bytes -= t
	s.freeItem(ref)
}

// freeItem releases an unlinked item's chunks.
func (s *Store) freeItem(ref uint32) {
	if len(s.reads) != 0 && s.deferFree(ref) {
		return
	}
	if s.iflags(ref)&flagChunked != 0 {
		last := uint8(len(s.classes) - 1)
		for i, n := uint32(0), s.nextra(ref); i < n; i++ {
			x := s.extraRef(ref, i)
			delete(s.chunkHeads, x)
			s.freeChunk(last, x)
		}
	}
	s.freeChunk(s.class(ref), ref)
}
