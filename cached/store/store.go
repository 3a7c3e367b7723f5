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
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachectl/cachectl/cached/settings"
)

// Config holds the memcached settings the storage depends on.
type Config struct {
	MemoryLimit  uint64  // bytes (-m); 0 = no limit
	GrowthFactor float64 // chunk size growth factor (-f)
	MinChunk     int     // smallest chunk's data bytes (-n)
	ItemSizeMax  uint32  // largest item, header included (-I)
	PageSize     uint32  // slab page size
	ChunkMax     uint32  // largest chunk; bigger items span several (slab_chunk_max)
	Evictions    bool    // evict LRU tail when full; false = -M, fail instead
	CAS          bool    // false = -C
	HashPower    uint32  // initial hash table power (0 = 16)
	// MemcachedItemSizes places and counts items by memcached's item size
	// instead of their real one (size.go): -o memcached_item_sizes.
	MemcachedItemSizes bool
	MemoryFile         string // -e: item memory in this file, kept for a warm restart (restart.go)

	// The LRU (lru.go), with memcached's -o names. DefaultConfig is
	// memcached's default (-o modern); no_lru_maintainer or no_modern
	// turn both LRUSegmented and LRUMaintainer off.
	LRUSegmented  bool    // lru_segmented: HOT, WARM, COLD per class; false = one flat LRU
	LRUMaintainer bool    // lru_maintainer: a background goroutine runs the segments
	HotLRUPct     int     // hot_lru_pct: HOT's share of a class's item bytes
	WarmLRUPct    int     // warm_lru_pct: WARM's share
	HotMaxFactor  float64 // hot_max_factor: HOT's tail may be this times COLD's tail age
	WarmMaxFactor float64 // warm_max_factor: the same for WARM
	TempLRU       bool    // temp_lru: TTLs up to TemporaryTTL go to TEMP, never evicted
	TemporaryTTL  uint32  // temporary_ttl

	// The LRU crawler (crawler.go).
	LRUCrawler     bool   // lru_crawler: run the crawler (automatic crawls need LRUMaintainer too)
	CrawlerSleep   uint32 // lru_crawler_sleep: microseconds of pause per 1000 items crawled
	CrawlerToCrawl uint32 // lru_crawler_tocrawl: items per segment and crawl, 0 = all

	// The slab page mover (mover.go).
	SlabReassign       bool    // slab_reassign: pages may move between classes
	SlabAutomove       int     // slab_automove: 0 never, 1 by the windowed rule, 2 on every eviction
	SlabAutomoveRatio  float64 // slab_automove_ratio
	SlabAutomoveWindow uint32  // slab_automove_window, in seconds
	// Now returns the Unix time in seconds; tests inject a fake clock.
	Now func() int64
}

// DefaultConfig is memcached 1.6.18's default.
func DefaultConfig() Config {
	return Config{
		MemoryLimit:  uint64(settings.MemoryLimit),
		GrowthFactor: settings.GrowthFactor,
		MinChunk:     settings.MinChunk,
		ItemSizeMax:  uint32(settings.MaxItemSize),
		PageSize:     uint32(settings.SlabPageSize),
		ChunkMax:     uint32(settings.SlabChunkMax),
		Evictions:    true,
		CAS:          true,

		LRUSegmented:  true,
		LRUMaintainer: true,
		HotLRUPct:     20,
		WarmLRUPct:    40,
		HotMaxFactor:  0.2,
		WarmMaxFactor: 2.0,
		TemporaryTTL:  61,

		LRUCrawler:   true,
		CrawlerSleep: 100,

		SlabReassign:       true,
		SlabAutomove:       1,
		SlabAutomoveRatio:  0.8,
		SlabAutomoveWindow: 30,
	}
}

// Validate applies memcached's own start-up checks, with its reasons.
func (c Config) Validate() error {
	switch {
	case c.GrowthFactor <= 1.0:
		return errors.New("factor (-f) must be greater than 1")
	case c.MinChunk <= 0:
		return errors.New("chunk size (-n) must be greater than 0")
	case c.ItemSizeMax < 1024:
		return errors.New("item max size (-I) cannot be less than 1024 bytes")
	case c.MemoryLimit != 0 && uint64(c.ItemSizeMax) > c.MemoryLimit/2:
		return errors.New("cannot set item size limit (-I) higher than 1/2 of memory max (-m)")
	case c.ItemSizeMax > 1<<30:
		return errors.New("cannot set item size limit (-I) higher than a gigabyte")
	case c.ChunkMax > c.ItemSizeMax:
		return fmt.Errorf("slab_chunk_max (bytes: %d) cannot be larger than -I (item_size_max %d)", c.ChunkMax, c.ItemSizeMax)
	case c.ChunkMax > 1<<lenBits:
		return fmt.Errorf("slab_chunk_max (bytes: %d) is above the %d bytes an item's length field holds", c.ChunkMax, 1<<lenBits)
	case c.PageSize < chunkAlign || c.PageSize&(c.PageSize-1) != 0:
		return fmt.Errorf("slab page size %d is not a power of two", c.PageSize)
	case c.ItemSizeMax%c.ChunkMax != 0:
		return fmt.Errorf("-I (item_size_max: %d) must be evenly divisible by slab_chunk_max (bytes: %d)", c.ItemSizeMax, c.ChunkMax)
	case c.PageSize%c.ChunkMax != 0:
		return fmt.Errorf("slab_chunk_max (bytes: %d) must divide evenly into %d (slab_page_size)", c.ChunkMax, c.PageSize)
	case c.HotLRUPct < 0 || c.WarmLRUPct < 0 || c.HotLRUPct+c.WarmLRUPct > 80:
		return errors.New("hot_lru_pct + warm_lru_pct cannot be more than 80% combined")
	case c.SlabAutomove < 0 || c.SlabAutomove > 2:
		return ErrAutomoveLevel
	case c.SlabAutomoveRatio <= 0 || c.SlabAutomoveRatio > 1:
		return errors.New("slab_automove_ratio must be > 0 and < 1")
	case c.SlabAutomoveWindow < 3:
		return errors.New("slab_automove_window must be > 2")
	case c.TempLRU && !c.LRUMaintainer:
		return errors.New("temporary_ttl requires lru_maintainer to be enabled")
	case c.MemoryLimit > maxArena:
		return fmt.Errorf("memory limit (-m) of %d MB is above the %d MB this daemon can address", c.MemoryLimit>>20, maxArena>>20)
	}
	return nil
}

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
	coarse   *coarseClock // nil when the caller supplied Config.Now
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

	pinned uint32 // an item an operation still reads; never evicted meanwhile
	bytes  uint64 // accounted bytes of linked items (itemSize)
	total  uint64 // items ever linked
	st     Counters

	lastLookup LookupStatus // outcome of the latest lookup (lock held)
	evictions  evictionHook
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
	sizes := classSizes(cfg.MinChunk, cfg.GrowthFactor, cfg.ChunkMax, cfg.PageSize)
	a, err := newArena(cfg.MemoryLimit, cfg.PageSize, len(sizes), cfg.MemoryFile)
	if err != nil {
		return nil, err
	}
	s := &Store{
		coarse:   coarse,
		cfg:      cfg,
		arena:    a,
		classes:  make([]slabClass, len(sizes)),
		chunkMax: cfg.ChunkMax,
		idx:      newIndex(cfg.HashPower),
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
	if err := s.restore(); err != nil {
		a.close()
		return nil, err
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
type coarseClock struct {
	sec  atomic.Int64
	done chan struct{}
	once sync.Once
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
				c.sec.Store(time.Now().Unix())
			case <-c.done:
				return
			}
		}
	}()
	return c
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
	exp := s.word(ref, offExp)
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
	s.lastLookup = LookupNotFound
	ref := s.find(key, hv)
	if ref == 0 {
		return 0
	}
	if s.flushed(ref, now) {
		s.unlink(ref, hv)
		s.st.GetFlushed++
		s.lastLookup = LookupFlushed
		return 0
	}
	if s.expired(ref, now) {
		s.unlink(ref, hv)
		s.st.GetExpired++
		s.lastLookup = LookupExpired
		return 0
	}
	s.lastLookup = LookupFound
	return ref
}

// link makes a filled item visible with a fresh CAS.
func (s *Store) link(ref uint32, hv uint64, now uint32) uint64 {
	cas := s.nextCAS()
	s.setCAS(ref, cas)
	s.setWord(ref, offTime, now)
	s.setIFlag(ref, flagLinked)
	s.indexInsert(ref, hv)
	t := s.totalOf(ref)
	s.lruLink(ref, s.newSegment(s.word(ref, offExp), now), t)
	s.bytes += t
	s.total++
	return cas
}

// unlink removes an item from the index and LRU and frees its memory.
func (s *Store) unlink(ref uint32, hv uint64) {
	s.indexDelete(ref, hv)
	t := s.totalOf(ref)
	s.lruUnlink(ref, t)
	s.bytes -= t
	s.freeItem(ref)
}

// freeItem releases an unlinked item's chunks.
func (s *Store) freeItem(ref uint32) {
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
