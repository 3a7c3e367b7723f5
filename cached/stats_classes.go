package cached

import (
	"strconv"

	"github.com/cachectl/cachectl/cached/store"
)

// The per-class groups: stats items and stats slabs.

func (c *conn) classStat(prefix string, id int, name string, v any) {
	c.stat(prefix+strconv.Itoa(id)+":"+name, v)
}

// statsItems is memcached's item_stats: classes holding items, with the
// segment counters only while the LRU maintainer runs (TEMP's count only
// with temp_lru), as memcached prints them.
func (c *conn) statsItems() {
	sc := c.srv.store.Config()
	for _, cs := range c.srv.store.Stats().Classes {
		if cs.Items == 0 {
			continue
		}
		p, id := "items:", cs.ID
		c.classStat(p, id, "number", cs.Items)
		if sc.LRUMaintainer {
			c.classStat(p, id, "number_hot", cs.NumberHot)
			c.classStat(p, id, "number_warm", cs.NumberWarm)
			c.classStat(p, id, "number_cold", cs.NumberCold)
			if sc.TempLRU {
				c.classStat(p, id, "number_temp", cs.NumberTemp)
			}
			c.classStat(p, id, "age_hot", cs.AgeHot)
			c.classStat(p, id, "age_warm", cs.AgeWarm)
		}
		c.classStat(p, id, "age", cs.OldestAge)
		c.classStat(p, id, "mem_requested", cs.Requested)
		c.classStat(p, id, "evicted", cs.Evicted)
		c.classStat(p, id, "evicted_nonzero", cs.EvictedNonzero)
		c.classStat(p, id, "evicted_time", cs.EvictedTime)
		c.classStat(p, id, "outofmemory", cs.OutOfMemory)
		c.classStat(p, id, "tailrepairs", 0)
		c.classStat(p, id, "reclaimed", cs.Reclaimed)
		c.classStat(p, id, "expired_unfetched", cs.ExpiredUnfetched)
		c.classStat(p, id, "evicted_unfetched", cs.EvictedUnfetched)
		if sc.LRUMaintainer {
			c.classStat(p, id, "evicted_active", cs.EvictedActive)
		}
		c.classStat(p, id, "crawler_reclaimed", cs.CrawlerReclaimed)
		c.classStat(p, id, "crawler_items_checked", cs.CrawlerItemsChecked)
		c.classStat(p, id, "lrutail_reflocked", cs.LRUTailReflocked)
		if sc.LRUMaintainer {
			c.classSegmentStats(&cs)
		}
	}
}

// classSegmentStats are a class's maintainer counters; HitsToSegment is
// in memcached's segment order: hot, warm, cold, temp.
func (c *conn) classSegmentStats(cs *store.ClassStats) {
	p, id := "items:", cs.ID
	c.classStat(p, id, "moves_to_cold", cs.MovesToCold)
	c.classStat(p, id, "moves_to_warm", cs.MovesToWarm)
	c.classStat(p, id, "moves_within_lru", cs.MovesWithinLRU)
	c.classStat(p, id, "direct_reclaims", cs.DirectReclaims)
	for i, name := range []string{"hits_to_hot", "hits_to_warm", "hits_to_cold", "hits_to_temp"} {
		c.classStat(p, id, name, cs.HitsToSegment[i])
	}
}

func (c *conn) statsSlabs() {
	st := c.srv.store.Stats()
	active := 0
	for _, cs := range st.Classes {
		if cs.Pages == 0 {
			continue
		}
		active++
		id := cs.ID
		c.classStat("", id, "chunk_size", cs.ChunkSize)
		c.classStat("", id, "chunks_per_page", cs.PerPage)
		c.classStat("", id, "total_pages", cs.Pages)
		c.classStat("", id, "total_chunks", cs.Pages*cs.PerPage)
		c.classStat("", id, "used_chunks", cs.UsedChunks)
		c.classStat("", id, "free_chunks", cs.FreeChunks)
		// memcached keeps the stat but no longer tracks it.
		c.classStat("", id, "free_chunks_end", 0)
		c.classStat("", id, "get_hits", cs.GetHits)
		c.classStat("", id, "cmd_set", cs.CmdSet)
		c.classStat("", id, "delete_hits", cs.DeleteHits)
		c.classStat("", id, "incr_hits", cs.IncrHits)
		c.classStat("", id, "decr_hits", cs.DecrHits)
		c.classStat("", id, "cas_hits", cs.CASHits)
		c.classStat("", id, "cas_badval", cs.CASBadval)
		c.classStat("", id, "touch_hits", cs.TouchHits)
	}
	c.stat("active_slabs", active)
	c.stat("total_malloced", st.TotalMalloced)
}
