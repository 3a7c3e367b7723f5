package daemon

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cachectl/cachectl/cached"
)

// applyExtended handles one -o option.
func applyExtended(cfg *cached.Config, opt string) error {
	if opt == "" {
		return nil
	}
	name, val, hasVal := strings.Cut(opt, "=")
	num := func() (int, error) {
		n, err := strconv.Atoi(val)
		if !hasVal || err != nil || n < 0 {
			return 0, fmt.Errorf("-o %s: needs a non-negative number, e.g. -o %s=10", name, name)
		}
		return n, nil
	}
	switch name {
	case "udp_any_peer":
		cfg.UDPAnyPeer = true
		return nil
	case "ssl_chain_cert", "ssl_key", "ssl_ca_cert", "ssl_min_version":
		if !hasVal || val == "" {
			return fmt.Errorf("-o %s: needs a value, e.g. -o %s=FILE", name, name)
		}
		switch name {
		case "ssl_chain_cert":
			cfg.TLS.ChainCert = val
		case "ssl_key":
			cfg.TLS.Key = val
		case "ssl_ca_cert":
			cfg.TLS.CACert = val
		default:
			cfg.TLS.MinVersion = val
		}
		return nil
	case "ssl_verify_mode":
		n, err := num()
		if err == nil && n > cached.VerifyOnce {
			err = fmt.Errorf("-o ssl_verify_mode=%d: should be 0 (none), 1 (request), 2 (require) or 3 (once)", n)
		}
		cfg.TLS.VerifyMode = n
		return err
	case "ssl_ciphers", "ssl_session_cache", "ssl_kernel_tls", "ssl_wbuf_size":
		return fmt.Errorf("-o %s: not supported: cachectl's TLS is Go's crypto/tls (TLS 1.2 or later, its own cipher suites, no kernel TLS); drop the option", name)
	case "ssl_keyformat":
		if val != "1" {
			return fmt.Errorf("-o ssl_keyformat=%s: only 1 (PEM) is supported", val)
		}
		return nil
	case "idle_timeout":
		n, err := num()
		cfg.IdleTimeout = time.Duration(n) * time.Second
		return err
	case "hashpower":
		n, err := num()
		if err == nil && (n < 12 || n > 31) {
			err = fmt.Errorf("-o hashpower=%d: must be between 12 and 31", n)
		}
		cfg.Store.HashPower = uint32(n)
		return err
	case "slab_chunk_max":
		n, err := num()
		cfg.Store.ChunkMax = uint32(n) << 10
		return err
	// memcached tunables for machinery this daemon does not have (segmented
	// LRU, crawler, slab mover): accepted so command lines carry over.
	case "maxconns_fast", "no_maxconns_fast", "modern", "no_modern", "no_lru_crawler", "lru_crawler",
		"no_lru_maintainer", "lru_maintainer", "slab_reassign", "no_slab_reassign", "slab_automove",
		"hot_lru_pct", "warm_lru_pct", "hot_max_factor", "warm_max_factor", "temporary_ttl",
		"lru_crawler_sleep", "lru_crawler_tocrawl", "tail_repair_time", "hash_algorithm",
		"read_buf_mem_limit", "watcher_logbuf_size", "worker_logbuf_size", "track_sizes",
		"no_hashexpand", "slab_automove_freeratio":
		return nil
	}
	return fmt.Errorf("-o %q: illegal suboption", opt)
}
