package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cachectl/cachectl/cached"
)

// extended is the state of reading -o options: memcached reads them in
// order, and some depend on what came before.
type extended struct {
	cfg              *cached.Config
	chunkMaxExplicit bool // slab_chunk_max was given, so no_modern keeps it
}

// apply handles one -o option, accepting and refusing what memcached 1.6.18
// does, with its messages. A name given without "=" has no value (memcached's
// getsubopt gives NULL); "name=" has an empty one.
func (x *extended) apply(opt string) error {
	if opt == "" {
		return nil
	}
	name, val, hasVal := strings.Cut(opt, "=")
	if known, err := x.applyStore(name, val, hasVal); known {
		return err
	}
	if known, err := x.applyServer(name, val, hasVal); known {
		return err
	}
	if known, err := x.applyLRU(name, val, hasVal); known {
		return err
	}
	if known, err := x.applyExtstore(name, val, hasVal); known {
		return err
	}
	if check, ok := ignoredTunables[name]; ok {
		return check(val, hasVal)
	}
	return fmt.Errorf("Illegal suboption %q", opt)
}

// applyStore handles the options that shape item memory.
func (x *extended) applyStore(name, val string, hasVal bool) (bool, error) {
	sc := &x.cfg.Store
	switch name {
	case "hashpower":
		if !hasVal {
			return true, errors.New("Missing numeric argument for hashpower")
		}
		n := atoi(val)
		switch {
		case n < 12:
			return true, fmt.Errorf("Initial hashtable multiplier of %d is too low", n)
		case n > 32:
			return true, fmt.Errorf("Initial hashtable multiplier of %d is too high\nChoose a value based on \"STAT hash_power_level\" from a running instance", n)
		case n == 32:
			// memcached accepts 32 here and then cannot allocate the table.
			return true, errors.New("Failed to init hashtable.")
		}
		sc.HashPower = uint32(n)
	case "slab_chunk_max":
		// Bytes, whatever memcached's -h says: 1.6.18 reads the number as is.
		if !hasVal {
			return true, errors.New("Missing slab_chunk_max argument")
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 32)
		if err != nil || n <= 0 {
			// memcached goes on with a garbage value and crashes; refuse instead.
			return true, errors.New("could not parse argument to slab_chunk_max")
		}
		sc.ChunkMax = uint32(n)
		x.chunkMaxExplicit = true
	case "no_chunked_items":
		sc.ChunkMax = sc.PageSize
	case "no_modern":
		// memcached's pre-1.5 layout: items are never chunked, unless a
		// slab_chunk_max given earlier says otherwise, and one flat LRU
		// per class with no background work.
		if !x.chunkMaxExplicit {
			sc.ChunkMax = sc.PageSize
		}
		x.noModern()
	case "memcached_item_sizes": // cachectl's own: see README
		// Place and count items by memcached's item size, so stats slabs
		// and bytes match memcached's for the same items.
		sc.MemcachedItemSizes = true
	case "no_huge_pages": // cachectl's own: see README
		sc.NoHugePages = true
	case "track_sizes":
		sc.TrackSizes = true
	case "slab_sizes":
		// Checked once -n and slab_chunk_max are final, as memcached
		// checks it after reading every option.
		switch {
		case !hasVal:
			return true, errors.New("Missing slab_sizes argument") // memcached crashes here
		case val == "":
			// memcached exits without a word.
			return true, errors.New("slab_sizes: no sizes given; write them joined by '-', as in slab_sizes=96-120-152")
		}
		sc.SlabSizes = val
	default:
		return false, nil
	}
	return true, nil
}

// applyServer handles the options of connections and TLS.
func (x *extended) applyServer(name, val string, hasVal bool) (bool, error) {
	cfg := x.cfg
	switch name {
	case "udp_any_peer": // cachectl's own: see README
		cfg.UDPAnyPeer = true
	case "sock_cookie_id":
		// memcached ignores a value it cannot parse (and one not given),
		// which leaves the sockets unmarked.
		n, _ := safeStrtoul(val)
		cfg.SockCookieID = n
	case "relaxed_privileges":
		// Only memcached-debug, the build memcached's own test suite
		// starts, has it; the suite passes it to every server and moves
		// the clock with debugtime. Accepting it lets that suite run
		// against this daemon unchanged.
		cfg.TestCommands = true
	case "watcher_logbuf_size", "worker_logbuf_size":
		// Kilobytes into memcached's unsigned 32-bit setting: the multiply
		// wraps there, and stats settings shows what it wrapped to.
		kb, err := strtoul32(val, hasVal, "Missing "+name+" argument", "could not parse argument to "+name)
		if err != nil {
			return true, err
		}
		if name == "watcher_logbuf_size" {
			cfg.WatcherLogBuf = int(kb << 10)
		} else {
			cfg.WorkerLogBuf = int(kb << 10)
		}
	case "idle_timeout":
		if !hasVal {
			return true, errors.New("Missing numeric argument for idle_timeout")
		}
		cfg.IdleTimeout = time.Duration(max(atoi(val), 0)) * time.Second
	case "ssl_chain_cert", "ssl_key", "ssl_ca_cert", "ssl_ciphers":
		if !hasVal {
			return true, fmt.Errorf("Missing %s argument", name)
		}
		switch name {
		case "ssl_chain_cert":
			cfg.TLS.ChainCert = val
		case "ssl_key":
			cfg.TLS.Key = val
		case "ssl_ca_cert":
			cfg.TLS.CACert = val
		default:
			cfg.TLS.Ciphers = val
		}
	case "ssl_min_version":
		v, err := sslMinVersion(val, hasVal)
		if err != nil {
			return true, err
		}
		cfg.TLS.MinVersion = v
	case "ssl_verify_mode":
		n, err := strconv.Atoi(val)
		if !hasVal || err != nil || n < 0 || n > cached.VerifyOnce {
			return true, fmt.Errorf("-o ssl_verify_mode=%s: should be 0 (none), 1 (request), 2 (require) or 3 (once)", val)
		}
		cfg.TLS.VerifyMode = n
	case "ssl_wbuf_size":
		// Kilobytes, as memcached reads it (and wraps, in 32 bits).
		kb, err := strtoul32(val, hasVal, "Missing ssl_wbuf_size argument", "could not parse argument to ssl_wbuf_size")
		if err != nil {
			return true, err
		}
		if size := kb << 10; size > 0 {
			cfg.TLS.WBufSize = int(size)
		} else {
			// memcached would then write nothing and spin; refuse.
			return true, errors.New("ssl_wbuf_size must be at least 1 (kilobytes)")
		}
	case "ssl_session_cache":
		cfg.TLS.SessionCache = true
	case "ssl_kernel_tls":
		return true, errors.New("-o ssl_kernel_tls: not supported: cachectl's TLS is Go's crypto/tls, which has no kernel TLS offload; drop the option")
	case "ssl_keyformat":
		if val != "1" {
			return true, fmt.Errorf("-o ssl_keyformat=%s: only 1 (PEM) is supported", val)
		}
	default:
		return false, nil
	}
	return true, nil
}

// sslMinVersion reads ssl_min_version: memcached 1.6.18's numbers 0-3, or
// the names it prints for them (tlsv1.0 ... tlsv1.3), which cachectl
// accepts too. The result is the name.
func sslMinVersion(val string, hasVal bool) (string, error) {
	names := []string{"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"}
	switch {
	case !hasVal:
		return "", errors.New("Missing ssl_min_version argument")
	case slices.Contains(names, val):
		return val, nil
	case val == "tlsv1":
		return "tlsv1.0", nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 32)
	if err != nil {
		return "", errors.New("could not parse argument to ssl_min_version")
	}
	if n < 0 || n > 3 {
		return "", errors.New("Invalid ssl_min_version. Use help to see valid options.")
	}
	return names[n], nil
}
