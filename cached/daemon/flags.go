package daemon

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/settings"
)

// Flags are memcached's own flags, letter for letter, so existing memcached
// command lines carry over. Callers may change a field between parsing and
// Config, for example to let a policy file stand in for a flag not given.
type Flags struct {
	Port             int
	UDPPort          int
	Listen           []string
	MemoryLimit      string // megabytes, or a size with a k, m or g suffix
	DisableEvictions bool
	MaxConns         int
	MaxItemSize      string // bytes, or a size with a k, m or g suffix
	GrowthFactor     float64
	MinChunk         int
	Threads          int
	DisableCAS       bool
	Verbose          int
	User             string
	EnableShutdown   bool
	DisableFlush     bool
	ReqsPerEvent     int
	Backlog          int
	Protocol         string
	Extended         []string
	Daemonize        bool
	PidFile          string
	UnixSocket       string
	UnixMask         string
	EnableTLS        bool
	EnableSASL       bool
	AuthFile         string
	PrefixDelimiter  string
	DisableWatch     bool
	DisableDumping   bool
	LockMemory       bool
	MaxCore          bool
	LargePages       bool
	MemoryFile       string

	fs *pflag.FlagSet // to tell given flags from defaults
}

// Scope chooses which of memcached's flags a command takes.
type Scope int

const (
	// AllFlags registers every flag, -l, -s and -a included.
	AllFlags Scope = iota
	// NoListen leaves out -l, -s and -a, for a command that chooses the
	// addresses itself; a unix socket is guarded by its file mode rather
	// than by an allowlist of peers, so it goes too.
	NoListen
)

// Register declares the flags on fs with memcached's defaults.
func (f *Flags) Register(fs *pflag.FlagSet, scope Scope) {
	f.fs = fs
	fs.IntVarP(&f.Port, "port", "p", settings.Port, "TCP port to listen on (0 = off, -1 = the kernel picks; see MEMCACHED_PORT_FILENAME)")
	fs.IntVarP(&f.UDPPort, "udp-port", "U", 0, "UDP port (0 = off, -1 = the kernel picks); answered only for peers the allowlist admits (loopback only without one, unless -o udp_any_peer)")
	if scope == AllFlags {
		fs.StringArrayVarP(&f.Listen, "listen", "l", nil, "LOCAL address(es) to listen on, comma-separated; not who may connect (default: all)")
	}
	fs.StringVarP(&f.MemoryLimit, "memory-limit", "m", strconv.Itoa(settings.MemoryLimitMB), "item memory in megabytes")
	fs.BoolVarP(&f.DisableEvictions, "disable-evictions", "M", false, "return an error when memory is full instead of evicting")
	fs.IntVarP(&f.MaxConns, "conn-limit", "c", settings.MaxConns, "max simultaneous connections")
	fs.StringVarP(&f.MaxItemSize, "max-item-size", "I", settings.MaxItemSize.String(), "max item size (1k..1g)")
	fs.Float64VarP(&f.GrowthFactor, "slab-growth-factor", "f", settings.GrowthFactor, "chunk size growth factor")
	fs.IntVarP(&f.MinChunk, "slab-min-size", "n", settings.MinChunk, "min space used for key+value+flags")
	fs.IntVarP(&f.Threads, "threads", "t", settings.Threads, "worker loops serving connections (memcached's worker threads)")
	fs.BoolVarP(&f.DisableCAS, "disable-cas", "C", false, "disable CAS")
	fs.CountVarP(&f.Verbose, "verbose", "v", "verbose (-vv: also log client commands)")
	fs.StringVarP(&f.User, "user", "u", "", "drop privileges to this user after binding")
	fs.BoolVarP(&f.EnableShutdown, "enable-shutdown", "A", false, "enable the ascii \"shutdown\" command")
	fs.BoolVarP(&f.DisableFlush, "disable-flush-all", "F", false, "disable the flush_all command")
	fs.IntVarP(&f.ReqsPerEvent, "max-reqs-per-event", "R", settings.ReqsPerEvent, "requests one connection runs before the others get a turn (counted in conn_yields)")
	fs.IntVarP(&f.Backlog, "listen-backlog", "b", settings.Backlog, "accepted for compatibility (the kernel's somaxconn applies)")
	fs.StringVarP(&f.Protocol, "protocol", "B", "auto", "protocol: auto (the first byte of each connection decides), ascii or binary")
	fs.StringArrayVarP(&f.Extended, "extended", "o", nil, "extended options, comma-separated (idle_timeout=N, hashpower=N, slab_chunk_max=BYTES, no_modern, no_lru_maintainer, temporary_ttl=N, slab_automove=0-2, read_buf_mem_limit=MB, udp_any_peer, memcached_item_sizes, no_huge_pages, ssl_*=..., ...)")
	fs.BoolVarP(&f.Daemonize, "daemon", "d", false, "run in the background once listening (prefer running in the foreground under systemd)")
	fs.StringVarP(&f.PidFile, "pidfile", "P", "", "write the process id to this file (the background daemon's with -d)")
	if scope == AllFlags {
		fs.StringVarP(&f.UnixSocket, "unix-socket", "s", "", "serve on this unix socket instead of TCP and UDP")
		fs.StringVarP(&f.UnixMask, "unix-mask", "a", fmt.Sprintf("%04o", settings.UnixMask), "permissions of the unix socket, octal")
	}
	fs.BoolVarP(&f.EnableSASL, "enable-sasl", "S", false, "binary SASL (PLAIN, CRAM-MD5); passwords from the file named by $"+SASLPasswordEnv+" (user:password lines), else from the sasldb named by memcached.conf in $"+SASLConfEnv+", /etc/sasl or /etc/sasl2; binary protocol only")
	fs.StringVarP(&f.AuthFile, "auth-file", "Y", "", "ASCII auth: user:password lines; each connection first sends 'set <any> 0 0 <n>' with 'user password'; text protocol only")
	fs.BoolVarP(&f.DisableWatch, "disable-watch", "W", false, "disable the watch command (live log streams)")
	fs.BoolVarP(&f.DisableDumping, "disable-dumping", "X", false, "refuse stats cachedump and lru_crawler metadump, which list the keys")
	fs.BoolVarP(&f.LockMemory, "lock-memory", "k", false, "keep all the process's memory in RAM (mlockall), locking item pages as they are first used")
	fs.BoolVarP(&f.MaxCore, "enable-coredumps", "r", false, "raise the core file limit and dump core on a crash")
	fs.BoolVarP(&f.LargePages, "enable-largepages", "L", false, "transparent huge pages for item memory, and a page for every slab class at start")
	fs.StringVarP(&f.MemoryFile, "memory-file", "e", "", "keep item memory in this file (on tmpfs, e.g. under /dev/shm) for a warm restart: stop with SIGUSR1 to save it")
	fs.StringVarP(&f.PrefixDelimiter, "prefix-delimiter", "D", ":", "delimiter of key prefixes for stats detail; giving it turns the per-prefix counts on")
	fs.BoolVarP(&f.EnableTLS, "enable-ssl", "Z", false, "TLS on TCP (-o ssl_chain_cert=FILE,ssl_key=FILE[,ssl_ca_cert=FILE,ssl_verify_mode=0-3])")
}

// Changed reports whether the flag with this long name was given.
func (f *Flags) Changed(name string) bool { return f.fs != nil && f.fs.Changed(name) }

// Config is what Run needs: the server's configuration and what happens
// around it in the process.
type Config struct {
	Server    cached.Config
	User      string // -u: drop privileges to this user after binding
	PidFile   string // -P
	Daemonize bool   // -d: run in the background
	// LockMemory is -k: keep the process's memory in RAM (mlockall).
	LockMemory bool
	// MaxCore is -r: raise the core file limit, and dump core on a crash.
	MaxCore bool
}

// Config turns the flags into the daemon's configuration. Every refusal is
// a *UsageError that says what to change.
func (f *Flags) Config() (Config, error) {
	cfg := Config{Server: cached.DefaultConfig(), User: f.User, PidFile: f.PidFile, Daemonize: f.Daemonize,
		LockMemory: f.LockMemory, MaxCore: f.MaxCore}
	if err := f.serverConfig(&cfg.Server); err != nil {
		return cfg, err
	}
	if err := f.authConfig(&cfg.Server); err != nil {
		return cfg, err
	}
	if err := f.storeConfig(&cfg.Server); err != nil {
		return cfg, err
	}
	x := extended{cfg: &cfg.Server}
	for _, opts := range f.Extended {
		for _, o := range strings.Split(opts, ",") {
			if err := x.apply(strings.TrimSpace(o)); err != nil {
				return cfg, usageError(err)
			}
		}
	}
	return cfg, f.check(cfg.Server)
}

// serverConfig reads the flags of the listeners and connections.
func (f *Flags) serverConfig(c *cached.Config) error {
	proto, err := cached.ParseProtocol(f.Protocol)
	if err != nil {
		return usageErrorf("-B %q: should be one of auto, binary, or ascii", f.Protocol)
	}
	c.Protocol = proto
	c.Port = f.Port
	c.UDPPort = f.UDPPort
	if f.UDPPort != 0 && f.Changed("udp-port") && !f.Changed("port") {
		// memcached: -U without -p puts TCP on the UDP port too.
		c.Port = f.UDPPort
	}
	maskText := f.UnixMask
	if maskText == "" {
		maskText = fmt.Sprintf("%04o", settings.UnixMask)
	}
	mask, err := strconv.ParseUint(maskText, 8, 32)
	if err != nil || mask > 0o777 {
		return usageErrorf("-a %q: should be octal permissions such as 0700 or 0660", f.UnixMask)
	}
	c.UnixSocket = f.UnixSocket
	c.UnixMask = fs.FileMode(mask)
	c.TLS.Enabled = f.EnableTLS
	c.Listen = f.Listen
	c.MaxConns = f.MaxConns
	c.Threads = f.Threads
	c.Backlog = f.Backlog
	c.ReqsPerEvent = f.ReqsPerEvent
	c.Verbosity = f.Verbose
	if f.PrefixDelimiter == "" {
		return usageErrorf("-D: No delimiter specified")
	}
	c.PrefixDelimiter = f.PrefixDelimiter[0]
	c.WatchDisabled = f.DisableWatch
	c.DisableDumping = f.DisableDumping
	c.Detail = f.Changed("prefix-delimiter")
	c.EnableShutdown = f.EnableShutdown
	c.FlushEnabled = !f.DisableFlush
	return nil
}

// InitialMallocEnv fakes how many bytes of item memory are already
// allocated at start (total_malloced), as memcached's test suite sets it.
const InitialMallocEnv = "T_MEMD_INITIAL_MALLOC"

// storeConfig reads the flags of item memory: -m, -M, -I, -f, -n, -C, -e.
func (f *Flags) storeConfig(c *cached.Config) error {
	mem, err := settings.ParseSize(f.MemoryLimit, settings.Megabyte)
	if err != nil {
		return usageErrorf("-m %q: %w (megabytes, e.g. -m 64)", f.MemoryLimit, err)
	}
	item, err := settings.ParseSize(f.MaxItemSize, settings.Byte)
	if err != nil {
		return usageErrorf("-I %q: %w (e.g. -I 1m, -I 512k)", f.MaxItemSize, err)
	}
	if item > settings.MaxItemSizeLimit {
		return usageErrorf("-I %q: cannot set item size limit higher than a gigabyte", f.MaxItemSize)
	}
	sc := &c.Store
	sc.LargePages = f.LargePages
	sc.MemoryLimit = uint64(mem)
	sc.Evictions = !f.DisableEvictions
	sc.GrowthFactor = f.GrowthFactor
	sc.MinChunk = f.MinChunk
	sc.CAS = !f.DisableCAS
	sc.ItemSizeMax = uint32(item)
	sc.MemoryFile = f.MemoryFile
	// memcached reads this in every build, for its test suite to fake
	// memory already allocated; a value that is not a number is ignored,
	// as memcached's safe_strtoll leaves it.
	if v, err := strconv.ParseInt(os.Getenv(InitialMallocEnv), 10, 64); err == nil && v > 0 {
		sc.InitialMalloced = uint64(v)
	}
	if sc.ItemSizeMax < sc.ChunkMax {
		sc.ChunkMax = sc.ItemSizeMax
	}
	return nil
}

// check refuses combinations that only make sense together.
func (f *Flags) check(c cached.Config) error {
	if f.Threads <= 0 {
		return usageErrorf("-t %d: number of threads must be greater than 0", f.Threads)
	}
	if f.ReqsPerEvent <= 0 {
		return usageErrorf("-R %d: Number of requests per event must be greater than 0", f.ReqsPerEvent)
	}
	if f.UDPPort < cached.EphemeralPort || f.UDPPort > 65535 {
		return usageErrorf("-U %d: UDP port must be between 0 (off) and 65535, or -1 for a port the kernel picks", f.UDPPort)
	}
	if f.Port < cached.EphemeralPort || f.Port > 65535 {
		return usageErrorf("-p %d: Invalid port number", f.Port)
	}
	if c.UDPAnyPeer && f.UDPPort == 0 {
		return usageErrorf("-o udp_any_peer: UDP is off; it only makes sense with -U PORT")
	}
	if err := checkTLSOptions(c.TLS); err != nil {
		return err
	}
	if c.TLS.Enabled && c.Port == 0 {
		// memcached's refusal: -Z covers TCP only, so with -p 0 it would
		// encrypt nothing, and the daemon may now start with no listener.
		return usageErrorf("-Z: You cannot enable SSL without a TCP port (-p 0 turns TCP off)")
	}
	if !c.TLS.Enabled && hasNoTLS(c.Listen) {
		return usageErrorf("'notls' option is valid only when SSL is enabled")
	}
	if err := c.Store.Validate(); err != nil {
		return usageError(err)
	}
	return nil
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
	if t.ChainCert != "" || t.Key != "" || t.CACert != "" || t.VerifyMode != 0 || t.MinVersion != "" ||
		t.Ciphers != "" || t.WBufSize != 0 || t.SessionCache {
		return usageErrorf("-o ssl_*: TLS options given without -Z; add -Z to enable TLS")
	}
	return nil
}

// hasNoTLS reports a -l item with memcached's notls: prefix.
func hasNoTLS(listen []string) bool {
	for _, l := range listen {
		for _, item := range strings.FieldsFunc(l, func(r rune) bool { return r == ',' || r == ';' }) {
			if strings.HasPrefix(item, cached.NoTLSPrefix) {
				return true
			}
		}
	}
	return false
}
