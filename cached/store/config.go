package store

import (
	"errors"
	"fmt"

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
	TrackSizes         bool   // -o track_sizes: the stats sizes histogram from the start (sizes.go)
	SlabSizes          string // -o slab_sizes: chunk sizes joined by '-' instead of -f's series ("" = -f)
	LargePages         bool   // -L: huge pages for item memory, a page for every class at start (largepages.go)
	// NoHugePages keeps the item memory and the hash index on base pages
	// (-o no_huge_pages); by default both ask for transparent huge pages.
	NoHugePages bool
	// InitialMalloced counts this many bytes as allocated from the start,
	// against the limit and in total_malloced: memcached's
	// T_MEMD_INITIAL_MALLOC, with which its test suite tests large -m.
	InitialMalloced uint64

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
	case settings.Size(c.ItemSizeMax) < settings.MinItemSize:
		return errors.New("item max size (-I) cannot be less than 1024 bytes")
	case c.MemoryLimit != 0 && uint64(c.ItemSizeMax) > c.MemoryLimit/2:
		return errors.New("cannot set item size limit (-I) higher than 1/2 of memory max (-m)")
	case settings.Size(c.ItemSizeMax) > settings.MaxItemSizeLimit:
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
	case c.SlabSizes != "":
		if _, err := c.classTable(); err != nil {
			return err
		}
	case c.SlabAutomoveWindow < 3:
		return errors.New("slab_automove_window must be > 2")
	case c.TempLRU && !c.LRUMaintainer:
		return errors.New("temporary_ttl requires lru_maintainer to be enabled")
	case c.MemoryLimit > maxArena:
		return fmt.Errorf("memory limit (-m) of %d MB is above the %d MB this daemon can address", c.MemoryLimit>>20, maxArena>>20)
	}
	return nil
}
