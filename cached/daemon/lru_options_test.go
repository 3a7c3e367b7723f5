package daemon

import (
	"reflect"
	"testing"

	"github.com/cachectl/cachectl/cached/store"
)

// TestLRUOptionsReachTheStore: every -o option of the segmented LRU, the
// crawler and the slab mover ends up in the store's configuration, in the
// order given, as memcached applies them.
func TestLRUOptionsReachTheStore(t *testing.T) {
	def := store.DefaultConfig()
	tests := []struct {
		line string
		want func(*store.Config)
	}{
		{"", func(*store.Config) {}},
		{"-o modern", func(*store.Config) {}},
		{"-o no_modern", func(c *store.Config) {
			c.ChunkMax = c.PageSize
			c.LRUSegmented, c.LRUMaintainer, c.LRUCrawler = false, false, false
			c.SlabReassign, c.SlabAutomove = false, 0
		}},
		{"-o no_modern,lru_maintainer,lru_crawler,slab_reassign,slab_automove", func(c *store.Config) {
			c.ChunkMax = c.PageSize
		}},
		{"-o no_lru_maintainer", func(c *store.Config) { c.LRUSegmented, c.LRUMaintainer = false, false }},
		{"-o no_lru_maintainer,lru_maintainer", func(*store.Config) {}},
		{"-o no_lru_crawler", func(c *store.Config) { c.LRUCrawler = false }},
		{"-o hot_lru_pct=10,warm_lru_pct=50,hot_max_factor=0.5,warm_max_factor=3", func(c *store.Config) {
			c.HotLRUPct, c.WarmLRUPct, c.HotMaxFactor, c.WarmMaxFactor = 10, 50, 0.5, 3
		}},
		{"-o temporary_ttl=30", func(c *store.Config) { c.TempLRU, c.TemporaryTTL = true, 30 }},
		{"-o lru_crawler_sleep=0,lru_crawler_tocrawl=500", func(c *store.Config) { c.CrawlerSleep, c.CrawlerToCrawl = 0, 500 }},
		{"-o no_slab_reassign,no_slab_automove", func(c *store.Config) { c.SlabReassign, c.SlabAutomove = false, 0 }},
		{"-o slab_automove=2,slab_automove_ratio=0.5,slab_automove_window=10", func(c *store.Config) {
			c.SlabAutomove, c.SlabAutomoveRatio, c.SlabAutomoveWindow = 2, 0.5, 10
		}},
		{"-o slab_automove=0,slab_automove", func(c *store.Config) { c.SlabAutomove = 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cfg, err := parseFlags(t, AllFlags, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			want := def
			tt.want(&want)
			got := cfg.Server.Store
			got.Now = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("store config\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestReadBufMemLimit: read_buf_mem_limit is megabytes.
func TestReadBufMemLimit(t *testing.T) {
	cfg, err := parseFlags(t, AllFlags, "-o read_buf_mem_limit=3")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.ReadBufMemLimit != 3<<20 {
		t.Errorf("read_buf_mem_limit=3: %d bytes, want %d", cfg.Server.ReadBufMemLimit, 3<<20)
	}
}
