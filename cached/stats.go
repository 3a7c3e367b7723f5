package cached

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// stats answers the stats family. Key names and order follow memcached
// 1.6.18 so that monitoring that parses them keeps working; values come
// from this daemon's real state.
func (c *conn) stats(toks [][]byte) {
	if len(toks) == 1 {
		c.statsGeneral()
		c.out = append(c.out, "END\r\n"...)
		return
	}
	switch string(toks[1]) {
	case "reset":
		c.srv.resetStats()
		c.reply("RESET")
	case "settings":
		c.statsSettings()
		c.out = append(c.out, "END\r\n"...)
	case "items":
		c.statsItems()
		c.out = append(c.out, "END\r\n"...)
	case "slabs":
		c.statsSlabs()
		c.out = append(c.out, "END\r\n"...)
	case "sizes":
		c.stat("sizes_status", "disabled")
		c.out = append(c.out, "END\r\n"...)
	case "conns":
		c.statsConns()
		c.out = append(c.out, "END\r\n"...)
	case "detail":
		switch {
		case len(toks) < 3:
			c.reply("CLIENT_ERROR usage: stats detail on|off|dump")
		case string(toks[2]) == "on", string(toks[2]) == "off":
			c.srv.detail.Store(string(toks[2]) == "on")
			c.reply("OK")
		case string(toks[2]) == "dump":
			c.out = append(c.out, "END\r\n"...)
		default:
			c.reply("CLIENT_ERROR usage: stats detail on|off|dump")
		}
	case "cachedump":
		c.cachedump(toks)
	default:
		c.reply("ERROR")
	}
}

func (c *conn) stat(name string, value any) {
	c.out = append(c.out, "STAT "...)
	c.out = append(c.out, name...)
	c.out = append(c.out, ' ')
	switch v := value.(type) {
	case string:
		c.out = append(c.out, v...)
	case int:
		c.out = strconv.AppendInt(c.out, int64(v), 10)
	case int64:
		c.out = strconv.AppendInt(c.out, v, 10)
	case uint32:
		c.out = strconv.AppendUint(c.out, uint64(v), 10)
	case uint64:
		c.out = strconv.AppendUint(c.out, v, 10)
	case bool:
		c.out = append(c.out, yesNo(v)...)
	default:
		c.out = fmt.Append(c.out, v)
	}
	c.out = append(c.out, '\r', '\n')
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (c *conn) statsGeneral() {
	s := c.srv
	st := s.store.Stats()
	now := s.store.Now()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	// memcached counts UDP sockets among listeners (one per thread there).
	listeners := int64(len(s.listeners) + len(s.udp))

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
	c.stat("denied_connections", s.denied.Load())
	c.stat("udp_denied", s.udpDenied.Load())
	c.stat("connection_structures", s.currConns.Load()+listeners)
	c.stat("response_obj_oom", 0)
	c.stat("response_obj_count", 0)
	c.stat("response_obj_bytes", 0)
	bufCount, bufBytes, bufFree := s.readBufs.counts()
	c.stat("read_buf_count", bufCount)
	c.stat("read_buf_bytes", bufBytes)
	c.stat("read_buf_bytes_free", bufFree)
	c.stat("read_buf_oom", 0)
	c.stat("reserved_fds", 0)
	c.stat("cmd_get", st.CmdGet)
	c.stat("cmd_set", st.CmdSet)
	c.stat("cmd_flush", st.CmdFlush)
	c.stat("cmd_touch", st.CmdTouch)
	c.stat("cmd_meta", s.metaCmds.Load())
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
	c.stat("auth_cmds", 0)
	c.stat("auth_errors", 0)
	if s.cfg.IdleTimeout > 0 {
		c.stat("idle_kicks", s.idleKicks.Load())
	}
	if s.tlsConf != nil {
		c.stat("ssl_handshake_errors", s.tlsErrors.Load())
		c.stat("time_since_server_cert_refresh", int64(now)-60)
	}
	c.stat("bytes_read", s.bytesRead.Load())
	c.stat("bytes_written", s.bytesWritten.Load())
	c.stat("limit_maxbytes", st.LimitMaxbytes)
	c.stat("accepting_conns", 1)
	c.stat("listen_disabled_num", 0)
	c.stat("time_in_listen_disabled_us", 0)
	c.stat("threads", s.cfg.Threads)
	c.stat("conn_yields", 0)
	c.stat("hash_power_level", st.HashPower)
	c.stat("hash_bytes", st.HashBytes)
	c.stat("hash_is_expanding", boolInt(st.HashExpanding))
	c.stat("malloc_fails", 0)
	c.stat("connection_panics", s.panics.Load())
	c.stat("bytes", st.Bytes)
	c.stat("curr_items", st.CurrItems)
	c.stat("total_items", st.TotalItems)
	c.stat("slab_global_page_pool", 0)
	c.stat("expired_unfetched", st.ExpiredUnfetch)
	c.stat("evicted_unfetched", st.EvictedUnfetch)
	c.stat("evicted_active", 0)
	c.stat("evictions", st.Evictions)
	c.stat("reclaimed", st.Reclaimed)
	c.stat("crawler_reclaimed", 0)
	c.stat("crawler_items_checked", 0)
	c.stat("lrutail_reflocked", 0)
	c.stat("moves_to_cold", 0)
	c.stat("moves_to_warm", 0)
	c.stat("moves_within_lru", 0)
	c.stat("direct_reclaims", 0)
	c.stat("lru_bumps_dropped", 0)
	if s.cfg.ExtraStats != nil {
		s.cfg.ExtraStats(c.stat)
	}
	c.statsRuntime()
}

// runtimeSamples are the Go runtime figures `stats` reports after
// memcached's keys, so an operator (and the soak test) can see goroutine
// and heap growth without a profiler.
var runtimeSamples = []string{"/sched/goroutines:goroutines", "/memory/classes/heap/objects:bytes", "/gc/cycles/total:gc-cycles"}

// statsRuntime reports goroutines, heap and GC pauses. runtime/metrics and
// debug.ReadGCStats take only the heap lock: runtime.ReadMemStats would
// stop the world on every `stats`, which a monitoring poller must not do.
// The pause maximum is over the runtime's ring of the last 256 cycles.
func (c *conn) statsRuntime() {
	samples := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		samples[i].Name = name
	}
	metrics.Read(samples)
	var gc debug.GCStats
	debug.ReadGCStats(&gc)
	var maxPause time.Duration
	for _, p := range gc.Pause {
		maxPause = max(maxPause, p)
	}
	c.stat("go_goroutines", sampleUint(samples[0]))
	c.stat("go_heap_bytes", sampleUint(samples[1]))
	c.stat("go_gc_cycles", sampleUint(samples[2]))
	c.stat("go_gc_pause_total_us", gc.PauseTotal.Microseconds())
	c.stat("go_gc_pause_max_us", maxPause.Microseconds())
}

// sampleUint is 0 for a metric this Go does not have, rather than a panic.
func sampleUint(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}

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
	c.stat("stat_key_prefix", ":")
	c.stat("detail_enabled", s.detail.Load())
	c.stat("reqs_per_event", s.cfg.ReqsPerEvent)
	c.stat("cas_enabled", sc.CAS)
	c.stat("tcp_backlog", s.cfg.Backlog)
	c.stat("binding_protocol", s.cfg.Protocol.String())
	c.stat("auth_enabled_sasl", false)
	c.stat("auth_enabled_ascii", false)
	c.stat("item_size_max", sc.ItemSizeMax)
	c.stat("maxconns_fast", true)
	c.stat("hashpower_init", sc.HashPower)
	c.stat("slab_reassign", false)
	c.stat("slab_automove", 0)
	c.stat("slab_chunk_max", sc.ChunkMax)
	c.stat("lru_crawler", false)
	c.stat("tail_repair_time", 0)
	c.stat("flush_enabled", s.cfg.FlushEnabled)
	c.stat("dump_enabled", true)
	c.stat("hash_algorithm", "maphash")
	c.stat("lru_maintainer_thread", false)
	c.stat("lru_segmented", false)
	c.stat("temp_lru", false)
	c.stat("idle_timeout", int64(s.cfg.IdleTimeout/time.Second))
	c.stat("track_sizes", false)
	c.stat("inline_ascii_response", false)
	c.statsTLSSettings()
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
	c.stat("ssl_ciphers", "NULL")
	c.stat("ssl_ca_cert", orNULL(t.CACert))
	c.stat("ssl_wbuf_size", 16384)
	c.stat("ssl_session_cache", false)
	c.stat("ssl_kernel_tls", false)
	minVersion := t.MinVersion
	if minVersion == "" {
		minVersion = "tlsv1.2"
	}
	c.stat("ssl_min_version", minVersion)
}

func orPrintfNull(s string) string {
	if s == "" {
		return "(null)"
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

// statsConns lists the listeners and every client, memcached style.
func (c *conn) statsConns() {
	s := c.srv
	now := s.store.Now()
	type row struct {
		id                  int
		addr, listen, state string
		idle                uint32
		udp                 bool
	}
	var rows []row
	for _, ln := range s.listeners {
		rows = append(rows, row{id: listenerFD(ln), addr: connAddr(ln.Addr()), state: "conn_listening"})
	}
	for _, pc := range s.udp {
		rows = append(rows, row{id: listenerFD(pc), addr: udpAddrText(pc.LocalAddr().(*net.UDPAddr).AddrPort()), state: "conn_read", udp: true})
	}
	s.mu.Lock()
	for o := range s.conns {
		st := connState(o.state.Load())
		if o == c {
			st = stateParseCmd
		}
		rows = append(rows, row{id: o.id, addr: o.remote, listen: o.local, state: st.String(), idle: now - o.lastCmd.Load()})
	}
	s.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].id < rows[j].id })
	for _, r := range rows {
		if r.udp {
			c.classStat("", r.id, "UDP", "UDP")
		}
		c.classStat("", r.id, "addr", r.addr)
		if r.listen != "" {
			c.classStat("", r.id, "listen_addr", r.listen)
		}
		c.classStat("", r.id, "state", r.state)
		c.classStat("", r.id, "secs_since_last_cmd", r.idle)
	}
}

func listenerFD(ln any) int {
	if sc, ok := ln.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			fd := 0
			raw.Control(func(f uintptr) { fd = int(f) })
			return fd
		}
	}
	return 0
}

func (c *conn) cachedump(toks [][]byte) {
	if len(toks) < 4 {
		c.reply("CLIENT_ERROR bad command line")
		return
	}
	id, ok1 := parseUint32(toks[2])
	limit, ok2 := parseUint32(toks[3])
	if !ok1 || !ok2 {
		c.reply("CLIENT_ERROR bad command line format")
		return
	}
	if id >= 64 {
		c.reply("CLIENT_ERROR Illegal slab id")
		return
	}
	const maxDump = 2 << 20 // memcached caps a dump at 2 MB
	start := len(c.out)
	c.srv.store.Dump(int(id), int(limit), func(key []byte, nbytes uint32, exp int64) {
		if len(c.out)-start > maxDump {
			return
		}
		c.out = fmt.Appendf(c.out, "ITEM %s [%d b; %d s]\r\n", key, nbytes, exp)
	})
	c.out = append(c.out, "END\r\n"...)
}

// resetStats is `stats reset`: counters restart, items stay.
func (s *Server) resetStats() {
	s.store.ResetStats()
	s.totalConns.Store(0)
	s.rejected.Store(0)
	s.denied.Store(0)
	s.bytesRead.Store(0)
	s.bytesWritten.Store(0)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
