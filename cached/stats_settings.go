package cached

import (
	"fmt"
	"runtime"
	"strconv"
	"time"
)

// statsSettings is `stats settings`: the configuration as memcached
// names it, in its order, with the LRU, crawler and mover settings as they
// are now (their commands change them at run time).
func (c *conn) statsSettings() {
	s := c.srv
	sc := s.store.Config()
	inter := "NULL"
	if len(s.cfg.Listen) > 0 {
		inter = joinComma(s.cfg.Listen)
	}
	c.stat("maxbytes", sc.MemoryLimit)
	c.stat("maxconns", s.cfg.MaxConns)
	c.stat("tcpport", s.cfg.Port)
	c.stat("udpport", s.cfg.UDPPort)
	c.stat("inter", inter)
	c.stat("verbosity", int(s.verbosity.Load()))
	c.stat("oldest", s.store.Stats().OldestLive)
	c.stat("evictions", onOff(sc.Evictions))
	c.stat("domain_socket", orNULL(s.cfg.UnixSocket))
	c.stat("umask", strconv.FormatUint(uint64(s.cfg.UnixMask.Perm()), 8))
	c.stat("shutdown_command", s.cfg.EnableShutdown)
	c.stat("growth_factor", fmt.Sprintf("%.2f", sc.GrowthFactor))
	c.stat("chunk_size", sc.MinChunk)
	c.stat("num_threads", s.cfg.Threads)
	c.stat("num_threads_per_udp", s.cfg.Threads)
	c.stat("stat_key_prefix", string(s.prefixes.delim))
	c.stat("detail_enabled", s.detail.Load())
	c.stat("reqs_per_event", s.cfg.ReqsPerEvent)
	c.stat("cas_enabled", sc.CAS)
	c.stat("tcp_backlog", s.cfg.Backlog)
	c.stat("binding_protocol", s.cfg.Protocol.String())
	c.stat("auth_enabled_sasl", s.auth.sasl)
	c.stat("auth_enabled_ascii", orNo(s.cfg.AuthFile))
	c.stat("item_size_max", sc.ItemSizeMax)
	c.stat("maxconns_fast", true)
	c.stat("hashpower_init", sc.HashPower)
	c.stat("slab_reassign", sc.SlabReassign)
	c.stat("slab_automove", sc.SlabAutomove)
	c.stat("slab_automove_ratio", fmt.Sprintf("%.2f", sc.SlabAutomoveRatio))
	c.stat("slab_automove_window", sc.SlabAutomoveWindow)
	c.stat("slab_chunk_max", sc.ChunkMax)
	c.stat("lru_crawler", sc.LRUCrawler)
	c.stat("lru_crawler_sleep", sc.CrawlerSleep)
	c.stat("lru_crawler_tocrawl", sc.CrawlerToCrawl)
	c.stat("tail_repair_time", 0)
	c.stat("flush_enabled", s.cfg.FlushEnabled)
	c.stat("dump_enabled", !s.cfg.DisableDumping)
	c.stat("hash_algorithm", "maphash")
	c.stat("lru_maintainer_thread", sc.LRUMaintainer)
	c.stat("lru_segmented", sc.LRUSegmented)
	c.stat("hot_lru_pct", sc.HotLRUPct)
	c.stat("warm_lru_pct", sc.WarmLRUPct)
	c.stat("hot_max_factor", fmt.Sprintf("%.2f", sc.HotMaxFactor))
	c.stat("warm_max_factor", fmt.Sprintf("%.2f", sc.WarmMaxFactor))
	c.stat("temp_lru", sc.TempLRU)
	c.stat("temporary_ttl", sc.TemporaryTTL)
	c.stat("idle_timeout", int64(s.cfg.IdleTimeout/time.Second))
	c.stat("watcher_logbuf_size", s.cfg.WatcherLogBuf)
	c.stat("worker_logbuf_size", s.cfg.WorkerLogBuf)
	c.stat("read_buf_mem_limit", s.cfg.ReadBufMemLimit)
	c.stat("track_sizes", c.srv.store.SizesEnabled())
	c.stat("inline_ascii_response", false)
	c.statsExtstoreSettings()
	c.statsTLSSettings()
	// memcached prints its NAPI id count (-N, which this daemon does not
	// take) with %s, and so prints an unset one as a NULL string.
	c.stat("num_napi_ids", "(null)")
	c.stat("memory_file", orPrintfNull(sc.MemoryFile))
	c.stat("gomaxprocs", runtime.GOMAXPROCS(0))
	c.stat("udp_any_peer", s.cfg.UDPAnyPeer)
}

// statsTLSSettings reports -Z as memcached does; the values Go does not
// let one tune are reported as the fixed behaviour they stand for.
func (c *conn) statsTLSSettings() {
	t := c.srv.cfg.TLS
	c.stat("ssl_enabled", t.Enabled)
	// memcached prints these two unset as printf prints a NULL string.
	c.stat("ssl_chain_cert", orPrintfNull(t.ChainCert))
	c.stat("ssl_key", orPrintfNull(t.Key))
	mode := 0
	if t.VerifyMode >= 0 && t.VerifyMode <= VerifyOnce {
		mode = opensslVerifyMode(t.VerifyMode)
	}
	c.stat("ssl_verify_mode", mode)
	c.stat("ssl_keyformat", 1) // PEM
	c.stat("ssl_ciphers", orNULL(t.Ciphers))
	c.stat("ssl_ca_cert", orNULL(t.CACert))
	wbuf := t.WBufSize
	if wbuf == 0 {
		wbuf = DefaultTLSWBufSize
	}
	c.stat("ssl_wbuf_size", wbuf)
	c.stat("ssl_session_cache", t.SessionCache)
	c.stat("ssl_kernel_tls", false)
	minVersion := t.MinVersion
	switch minVersion {
	case "":
		minVersion = "tlsv1.2"
	case "tlsv1":
		minVersion = "tlsv1.0"
	}
	c.stat("ssl_min_version", minVersion)
}

func orPrintfNull(s string) string {
	if s == "" {
		return "(null)"
	}
	return s
}

func orNo(s string) string {
	if s == "" {
		return "no"
	}
	return s
}

func orNULL(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func joinComma(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}
