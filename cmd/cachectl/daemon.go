package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/cachectl/cachectl/cached"
)

// daemonFlags are memcached's own flags, letter for letter, so existing
// memcached command lines carry over to `cachectl serve` and `cachectl bind`.
type daemonFlags struct {
	port             int
	udpPort          int
	listen           []string
	memoryMB         string
	disableEvictions bool
	maxConns         int
	maxItemSize      string
	growthFactor     float64
	minChunk         int
	threads          int
	disableCAS       bool
	verbose          int
	user             string
	enableShutdown   bool
	disableFlush     bool
	reqsPerEvent     int
	backlog          int
	protocol         string
	extended         []string
	daemonize        bool
	pidFile          string
	unixSocket       string
	unixMask         string
	enableTLS        bool

	fs *pflag.FlagSet // to tell given flags from defaults
}

func (f *daemonFlags) register(fs *pflag.FlagSet, withListen bool) {
	fs.IntVarP(&f.port, "port", "p", 11211, "TCP port to listen on")
	f.fs = fs
	fs.IntVarP(&f.udpPort, "udp-port", "U", 0, "UDP port (0 = off); answered only for peers the allowlist admits (loopback only without one, unless -o udp_any_peer)")
	if withListen {
		fs.StringArrayVarP(&f.listen, "listen", "l", nil, "LOCAL address(es) to listen on, comma-separated; not who may connect (default: all)")
	}
	fs.StringVarP(&f.memoryMB, "memory-limit", "m", "64", "item memory in megabytes")
	fs.BoolVarP(&f.disableEvictions, "disable-evictions", "M", false, "return an error when memory is full instead of evicting")
	fs.IntVarP(&f.maxConns, "conn-limit", "c", 1024, "max simultaneous connections")
	fs.StringVarP(&f.maxItemSize, "max-item-size", "I", "1m", "max item size (1k..1024m)")
	fs.Float64VarP(&f.growthFactor, "slab-growth-factor", "f", 1.25, "chunk size growth factor")
	fs.IntVarP(&f.minChunk, "slab-min-size", "n", 48, "min space used for key+value+flags")
	fs.IntVarP(&f.threads, "threads", "t", 4, "worker loops serving connections (memcached's worker threads)")
	fs.BoolVarP(&f.disableCAS, "disable-cas", "C", false, "disable CAS")
	fs.CountVarP(&f.verbose, "verbose", "v", "verbose (-vv: also log client commands)")
	fs.StringVarP(&f.user, "user", "u", "", "drop privileges to this user after binding")
	fs.BoolVarP(&f.enableShutdown, "enable-shutdown", "A", false, "enable the ascii \"shutdown\" command")
	fs.BoolVarP(&f.disableFlush, "disable-flush-all", "F", false, "disable the flush_all command")
	fs.IntVarP(&f.reqsPerEvent, "max-reqs-per-event", "R", 20, "accepted for compatibility")
	fs.IntVarP(&f.backlog, "listen-backlog", "b", 1024, "accepted for compatibility (the kernel's somaxconn applies)")
	fs.StringVarP(&f.protocol, "protocol", "B", "auto", "protocol: auto (the first byte of each connection decides), ascii or binary")
	fs.StringArrayVarP(&f.extended, "extended", "o", nil, "extended options, comma-separated (idle_timeout=N, hashpower=N, slab_chunk_max=KB, udp_any_peer, ssl_*=..., ...)")
	fs.BoolVarP(&f.daemonize, "daemon", "d", false, "refused: cachectl runs in the foreground under your supervisor")
	fs.StringVarP(&f.pidFile, "pidfile", "P", "", "write the process id to this file")
	if withListen {
		// bind is about network addresses and their allowlist; a unix
		// socket is guarded by its file mode instead, so only serve has it.
		fs.StringVarP(&f.unixSocket, "unix-socket", "s", "", "serve on this unix socket instead of TCP and UDP")
		fs.StringVarP(&f.unixMask, "unix-mask", "a", "0700", "permissions of the unix socket, octal")
	}
	fs.BoolVarP(&f.enableTLS, "enable-ssl", "Z", false, "TLS on TCP (-o ssl_chain_cert=FILE,ssl_key=FILE[,ssl_ca_cert=FILE,ssl_verify_mode=0-3])")
}

// config turns the flags into the daemon's configuration; every refusal
// is a usage error that says what to change.
func (f *daemonFlags) config() (cached.Config, error) {
	cfg := cached.DefaultConfig()
	if f.daemonize {
		return cfg, usageErrorf("-d: cachectl does not fork into the background; run it in the foreground under systemd or another supervisor")
	}
	proto, err := cached.ParseProtocol(f.protocol)
	if err != nil {
		return cfg, usageErrorf("-B %q: should be one of auto, binary, or ascii", f.protocol)
	}
	cfg.Protocol = proto
	mem, err := parseSize(f.memoryMB, 1<<20)
	if err != nil {
		return cfg, usageErrorf("-m %q: %v (megabytes, e.g. -m 64)", f.memoryMB, err)
	}
	item, err := parseSize(f.maxItemSize, 1)
	if err != nil {
		return cfg, usageErrorf("-I %q: %v (e.g. -I 1m, -I 512k)", f.maxItemSize, err)
	}
	cfg.Port = f.port
	cfg.UDPPort = f.udpPort
	if f.udpPort != 0 && f.fs != nil && f.fs.Changed("udp-port") && !f.fs.Changed("port") {
		// memcached: -U without -p puts TCP on the UDP port too.
		cfg.Port = f.udpPort
	}
	if f.unixMask == "" {
		f.unixMask = "0700"
	}
	mask, err := strconv.ParseUint(f.unixMask, 8, 32)
	if err != nil || mask > 0o777 {
		return cfg, usageErrorf("-a %q: should be octal permissions such as 0700 or 0660", f.unixMask)
	}
	cfg.UnixSocket = f.unixSocket
	cfg.UnixMask = fs.FileMode(mask)
	cfg.TLS.Enabled = f.enableTLS
	cfg.Listen = f.listen
	cfg.MaxConns = f.maxConns
	cfg.Threads = f.threads
	cfg.Backlog = f.backlog
	cfg.ReqsPerEvent = f.reqsPerEvent
	cfg.Verbosity = f.verbose
	cfg.EnableShutdown = f.enableShutdown
	cfg.FlushEnabled = !f.disableFlush
	sc := &cfg.Store
	sc.MemoryLimit = mem
	sc.Evictions = !f.disableEvictions
	sc.GrowthFactor = f.growthFactor
	sc.MinChunk = f.minChunk
	sc.CAS = !f.disableCAS
	if item > 1<<30 {
		return cfg, usageErrorf("-I %q: cannot set item size limit higher than a gigabyte", f.maxItemSize)
	}
	sc.ItemSizeMax = uint32(item)
	if sc.ItemSizeMax < sc.ChunkMax {
		sc.ChunkMax = sc.ItemSizeMax
	}
	for _, opts := range f.extended {
		for _, o := range strings.Split(opts, ",") {
			if err := applyExtended(&cfg, strings.TrimSpace(o)); err != nil {
				return cfg, usageError(err)
			}
		}
	}
	if f.threads <= 0 {
		return cfg, usageErrorf("-t %d: number of threads must be greater than 0", f.threads)
	}
	if f.udpPort < 0 || f.udpPort > 65535 {
		return cfg, usageErrorf("-U %d: UDP port must be between 0 (off) and 65535", f.udpPort)
	}
	if cfg.UDPAnyPeer && f.udpPort == 0 {
		return cfg, usageErrorf("-o udp_any_peer: UDP is off; it only makes sense with -U PORT")
	}
	if err := checkTLSOptions(cfg.TLS); err != nil {
		return cfg, err
	}
	if err := sc.Validate(); err != nil {
		return cfg, usageError(err)
	}
	return cfg, nil
}

// checkTLSOptions catches ssl_* options given without -Z, which memcached
// would ignore and leave the operator believing traffic is encrypted.
func checkTLSOptions(t cached.TLSConfig) error {
	if t.Enabled {
		if t.ChainCert == "" || t.Key == "" {
			return usageErrorf("-Z: TLS needs a certificate and key: -o ssl_chain_cert=FILE,ssl_key=FILE")
		}
		return nil
	}
	if t.ChainCert != "" || t.Key != "" || t.CACert != "" || t.VerifyMode != 0 || t.MinVersion != "" {
		return usageErrorf("-o ssl_*: TLS options given without -Z; add -Z to enable TLS")
	}
	return nil
}

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

// parseSize reads "64", "64m", "1g", "512k"; a bare number is in units.
func parseSize(s string, unit uint64) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty size")
	}
	mult := unit
	switch s[len(s)-1] {
	case 'k', 'K':
		mult, s = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		mult, s = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("not a size")
	}
	return n * mult, nil
}

// newLogger maps memcached's -v levels onto slog levels.
func newLogger(w io.Writer, verbose int) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case verbose >= 2:
		level = slog.LevelDebug
	case verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// daemonRun binds, drops privileges, serves until SIGINT/SIGTERM, then
// shuts down gracefully. setup runs after binding, before serving. A
// logger already in cfg is kept, so setup's callers can log through it.
func daemonRun(a *app, f *daemonFlags, cfg cached.Config, setup func(context.Context, *cached.Server) error) error {
	log := cfg.Logger
	if log == nil {
		log = newLogger(a.stderr, f.verbose)
		cfg.Logger = log
	}
	// One P per worker loop, which holds it while waiting in epoll_wait,
	// and one spare for accepting, timers and the collector. Without the
	// spare the runtime's monitor takes a waiting loop's P back every
	// 20 us (it sees no idle P) and wakes that often itself: about 6% of
	// the daemon's CPU under load.
	runtime.GOMAXPROCS(cfg.Threads + 1)

	srv, err := cached.New(cfg)
	if err != nil {
		return usageError(err)
	}
	if err := srv.Listen(); err != nil {
		return explainListenError(err)
	}
	if err := dropPrivileges(f.user, log); err != nil {
		return err
	}
	if f.pidFile != "" {
		if err := os.WriteFile(f.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing pid file: %w", err)
		}
		defer os.Remove(f.pidFile)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if setup != nil {
		if err := setup(ctx, srv); err != nil {
			return err
		}
	}
	addrs := make([]string, 0, len(srv.Addrs()))
	for _, ap := range srv.Addrs() {
		addrs = append(addrs, ap.String())
	}
	udp := make([]string, 0, len(srv.UDPAddrs()))
	for _, ap := range srv.UDPAddrs() {
		udp = append(udp, ap.String())
	}
	log.Warn("cachectl daemon listening", "addrs", strings.Join(addrs, ","), "udp", strings.Join(udp, ","), "unix", cfg.UnixSocket, "tls", cfg.TLS.Enabled, "memory_mb", cfg.Store.MemoryLimit>>20, "version", cached.Version)
	err = srv.Serve(ctx)
	log.Warn("cachectl daemon stopped")
	return err
}

// explainListenError turns the kernel's terse bind errors into the
// explanation operators need: -l names a LOCAL address.
func explainListenError(err error) error {
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return usageErrorf("%v\n  -l/--listen chooses a LOCAL address of this host to listen on; it does not choose who may connect.\n  See this host's addresses with 'cachectl interfaces'. To let another host connect, run 'cachectl allow ADDR'.", err)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%v\n  another process already listens there (is memcached running? see 'ss -ltnp', or 'ss -lxp' for a unix socket)", err)
	case errors.Is(err, fs.ErrExist):
		return usageErrorf("%v\n  -s names the socket file to create; choose a path that is free or holds only a stale socket", err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%v\n  ports below 1024 need root or CAP_NET_BIND_SERVICE", err)
	case errors.Is(err, syscall.EINVAL):
		return usageErrorf("%v\n  an IPv6 link-local address needs its interface: fe80::1%%eth0", err)
	}
	return err
}

// dropPrivileges switches to user after binding, as memcached's -u does.
func dropPrivileges(name string, log *slog.Logger) error {
	if os.Geteuid() != 0 {
		if name != "" {
			log.Warn("-u ignored: not running as root", "user", name)
		}
		return nil
	}
	if name == "" {
		log.Warn("running as root; pass -u USER to drop privileges after binding")
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return usageErrorf("-u %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("dropping privileges to %s: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("dropping privileges to %s: setgid: %w", name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("dropping privileges to %s: setuid: %w", name, err)
	}
	log.Info("dropped privileges", "user", name, "uid", uid, "gid", gid)
	return nil
}
