package cached

import (
	"strconv"
)

// The per-class groups: stats items and stats slabs.

func (c *conn) classStat(prefix string, id int, name string, v any) {
	c.stat(prefix+strconv.Itoa(id)+":"+name, v)
}

func (c *conn) statsItems() {
	for _, cs := range c.srv.store.Stats().Classes {
		if cs.Items == 0 && cs.Evicted == 0 && cs.OutOfMemory == 0 {
			continue
		}
		p, id := "items:", cs.ID
		c.classStat(p, id, "number", cs.Items)
		c.classStat(p, id, "number_hot", 0)
		c.classStat(p, id, "number_warm", 0)
		c.classStat(p, id, "number_cold", cs.Items)
		c.classStat(p, id, "age_hot", 0)
		c.classStat(p, id, "age_warm", 0)
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
		c.classStat(p, id, "evicted_active", 0)
		c.classStat(p, id, "crawler_reclaimed", 0)
		c.classStat(p, id, "crawler_items_checked", 0)
		c.classStat(p, id, "lrutail_reflocked", 0)
		c.classStat(p, id, "moves_to_cold", 0)
		c.classStat(p, id, "moves_to_warm", 0)
		c.classStat(p, id, "moves_within_lru", 0)
		c.classStat(p, id, "direct_reclaims", 0)
		c.classStat(p, id, "hits_to_hot", 0)
		c.classStat(p, id, "hits_to_warm", 0)
		c.classStat(p, id, "hits_to_cold", cs.GetHits)
		c.classStat(p, id, "hits_to_temp", 0)
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
		c.classStat("", id, "free_chunks_end", cs.FreeEnd)
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
