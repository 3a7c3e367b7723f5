package cached

import (
	"github.com/cachectl/cachectl/cached/store"

	"fmt"
	"os"
	"syscall"
)

// The general `stats` group: memcached 1.6.18's keys in its order and
// nothing else. memcached's own test suite (t/stats.t) and monitoring
// tools count these keys, so cachectl's own counters are in
// `stats cachectl` (stats_cachectl.go) instead.

// statsGeneral is plain `stats`.
func (c *conn) statsGeneral() {
	s := c.srv
	st := s.store.Stats()
	now := s.store.Now()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	// memcached counts its UDP connections (one per thread) among listeners.
	s.mu.Lock()
	listeners := int64(len(s.listeners) + len(s.udpWorkers))
	s.mu.Unlock()

	c.stat("pid", os.Getpid())
	c.stat("uptime", int64(now)-60)
	c.stat("time", s.store.Started()+int64(now))
	c.stat("version", ProtocolVersion)
	c.stat("libevent", "none (epoll worker loops)")
	c.stat("pointer_size", 64)
	c.stat("rusage_user", fmt.Sprintf("%d.%06d", ru.Utime.Sec, ru.Utime.Usec))
	c.stat("rusage_system", fmt.Sprintf("%d.%06d", ru.Stime.Sec, ru.Stime.Usec))
	c.stat("max_connections", s.cfg.MaxConns)
	// memcached counts its listening sockets among connections, minus one.
	c.stat("curr_connections", s.currConns.Load()+listeners-1)
	c.stat("total_connections", s.totalConns.Load())
	c.stat("rejected_connections", s.rejected.Load())
	c.stat("connection_structures", s.currConns.Load()+listeners)
	c.stat("response_obj_oom", s.respOOM.Load())
	c.stat("response_obj_count", 0)
	c.stat("response_obj_bytes", 0)
	bufCount, bufBytes, bufFree := s.readBufCounts(c)
	c.stat("read_buf_count", bufCount)
	c.stat("read_buf_bytes", bufBytes)
	c.stat("read_buf_bytes_free", bufFree)
	c.stat("read_buf_oom", s.readBufs.oom.Load())
	c.stat("reserved_fds", 0)
	c.statsCommands(&st)
	if s.cfg.IdleTimeout > 0 {
		c.stat("idle_kicks", s.idleKicks.Load())
	}
	bytesRead, bytesWritten := s.bytesIO()
	c.stat("bytes_read", bytesRead)
	c.stat("bytes_written", bytesWritten)
	c.stat("limit_maxbytes", st.LimitMaxbytes)
	c.stat("accepting_conns", 1)
	c.stat("listen_disabled_num", 0)
	c.stat("time_in_listen_disabled_us", 0)
	c.stat("threads", s.cfg.Threads)
	c.stat("conn_yields", s.yields.Load())
	c.stat("hash_power_level", st.HashPower)
	c.stat("hash_bytes", st.HashBytes)
	c.stat("hash_is_expanding", boolInt(st.HashExpanding))
	sc := s.store.Config()
	c.statsMemoryMachinery(&st, sc)
	c.stat("malloc_fails", 0)
	c.statsLogger()
	if s.tls != nil {
		if s.tls.cfg.SessionCache {
			c.stat("ssl_new_sessions", s.tls.newSessions.Load())
		}
		c.stat("ssl_handshake_errors", s.tls.handshakes.Load())
		c.stat("time_since_server_cert_refresh", now-s.tls.refreshed.Load())
	}
	// memcached counts these only when -N picks each connection's thread
	// by its NAPI id; cachectl has no -N, so they stay 0.
	c.stat("unexpected_napi_ids", 0)
	c.stat("round_robin_fallback", 0)
	c.stat("bytes", st.Bytes)
	c.stat("curr_items", st.CurrItems)
	c.stat("total_items", st.TotalItems)
	c.stat("slab_global_page_pool", st.SlabGlobalPagePool)
	c.statsItemTotals(&st, sc.LRUMaintainer)
}

// statsMemoryMachinery reports the slab mover, the crawler and the LRU
// maintainer, each only while memcached would: the mover's when slab
// reassignment is on, the crawler's while it is enabled, the maintainer's
// when it runs.
func (c *conn) statsMemoryMachinery(st *store.Stats, sc store.Config) {
	if sc.SlabReassign {
		c.stat("slab_reassign_rescues", st.SlabReassignRescues)
		c.stat("slab_reassign_chunk_rescues", st.SlabReassignChunkRescues)
		c.stat("slab_reassign_evictions_nomem", st.SlabReassignEvictionsNomem)
		c.stat("slab_reassign_inline_reclaim", st.SlabReassignInlineReclaim)
		c.stat("slab_reassign_busy_items", st.SlabReassignBusyItems)
		c.stat("slab_reassign_busy_deletes", st.SlabReassignBusyDeletes)
		c.stat("slab_reassign_running", boolInt(st.SlabReassignRunning))
		c.stat("slabs_moved", st.SlabsMoved)
	}
	if sc.LRUCrawler {
		c.stat("lru_crawler_running", boolInt(st.LRUCrawlerRunning))
		c.stat("lru_crawler_starts", st.LRUCrawlerStarts)
	}
	if sc.LRUMaintainer {
		c.stat("lru_maintainer_juggles", st.LRUMaintainerJuggles)
	}
}

// statsItemTotals is memcached's item_stats_totals: the LRU counters
// summed over classes, the maintainer's only when it runs.
func (c *conn) statsItemTotals(st *store.Stats, maintainer bool) {
	c.stat("expired_unfetched", st.ExpiredUnfetch)
	c.stat("evicted_unfetched", st.EvictedUnfetch)
	if maintainer {
		c.stat("evicted_active", st.EvictedActive)
	}
	c.stat("evictions", st.Evictions)
	c.stat("reclaimed", st.Reclaimed)
	c.stat("crawler_reclaimed", st.CrawlerReclaimed)
	c.stat("crawler_items_checked", st.CrawlerItemsChecked)
	c.stat("lrutail_reflocked", st.LRUTailReflocked)
	if maintainer {
		c.stat("moves_to_cold", st.MovesToCold)
		c.stat("moves_to_warm", st.MovesToWarm)
		c.stat("moves_within_lru", st.MovesWithinLRU)
		c.stat("direct_reclaims", st.DirectReclaims)
		c.stat("lru_bumps_dropped", st.LRUBumpsDropped)
	}
}

// statsCommands reports the command and hit counters.
func (c *conn) statsCommands(st *store.Stats) {
	c.stat("cmd_get", st.CmdGet)
	c.stat("cmd_set", st.CmdSet)
	c.stat("cmd_flush", st.CmdFlush)
	c.stat("cmd_touch", st.CmdTouch)
	c.stat("cmd_meta", c.srv.metaCmds.Load())
	c.stat("get_hits", st.GetHits)
	c.stat("get_misses", st.GetMisses)
	c.stat("get_expired", st.GetExpired)
	c.stat("get_flushed", st.GetFlushed)
	c.stat("delete_misses", st.DeleteMisses)
	c.stat("delete_hits", st.DeleteHits)
	c.stat("incr_misses", st.IncrMisses)
	c.stat("incr_hits", st.IncrHits)
	c.stat("decr_misses", st.DecrMisses)
	c.stat("decr_hits", st.DecrHits)
	c.stat("cas_misses", st.CASMisses)
	c.stat("cas_hits", st.CASHits)
	c.stat("cas_badval", st.CASBadval)
	c.stat("touch_hits", st.TouchHits)
	c.stat("touch_misses", st.TouchMisses)
	c.stat("store_too_large", st.StoreTooLarge)
	c.stat("store_no_memory", st.StoreNoMemory)
	c.stat("auth_cmds", c.srv.auth.cmds.Load())
	c.stat("auth_errors", c.srv.auth.errors.Load())
}
