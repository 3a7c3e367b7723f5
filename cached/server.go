package cached

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/settings"
	"github.com/cachectl/cachectl/cached/store"
)

// Config is the daemon's configuration, named after memcached's flags.
type Config struct {
	Listen         []string // -l: addresses, "host", "host:port", "[v6]:port"; empty = all
	Port           int      // -p: 0 = off, EphemeralPort = the kernel picks
	UDPPort        int      // -U: 0 = off, EphemeralPort = the kernel picks
	UDPAnyPeer     bool     // -o udp_any_peer: answer UDP from any peer when no allowlist is installed
	SockCookieID   uint32   // -o sock_cookie_id: SO_MARK on the TCP and UDP sockets (0 = none)
	UnixSocket     string   // -s: serve on this unix socket instead of TCP/UDP
	UnixMask       fs.FileMode
	TLS            TLSConfig
	AuthFile       string   // -Y: ASCII auth's password file
	SASL           bool     // -S: binary SASL (PLAIN, CRAM-MD5)
	SASLPasswordDB string   // SASL's password file, MEMCACHED_SASL_PWDB
	SASLConfPath   string   // where Cyrus SASL's memcached.conf is, SASL_CONF_PATH
	MaxConns       int      // -c
	Threads        int      // -t: worker loops for TCP and unix connections
	Backlog        int      // -b
	ReqsPerEvent   int      // -R: requests one connection runs before the others get a turn
	Verbosity      int      // -v count
	EnableShutdown bool     // -A
	FlushEnabled   bool     // !-F
	Protocol       Protocol // -B (zero value: auto)
	// PrefixDelimiter ends a key's prefix in `stats detail` (-D; 0 = ':');
	// Detail turns the recording on from the start, as -D does.
	PrefixDelimiter byte
	Detail          bool
	// WatchDisabled refuses `watch` (-W); the buffers of the log streams
	// are -o watcher_logbuf_size and worker_logbuf_size, in bytes.
	WatchDisabled bool
	// DisableDumping refuses stats cachedump and lru_crawler metadump
	// (-X), which list the cache's keys.
	DisableDumping bool
	WatcherLogBuf  int
	WorkerLogBuf   int
	IdleTimeout    time.Duration
	// ReadBufMemLimit is -o read_buf_mem_limit in bytes (0 = no limit):
	// the memory of connection read buffers and response objects.
	ReadBufMemLimit uint64
	// Extstore holds memcached's ext_* settings, shown and tuned as a
	// memcached built with extstore but given no storage file does.
	Extstore ExtstoreSettings
	Store    store.Config
	Logger   *slog.Logger
	// ExtraStats, if set, adds the embedding program's counters to
	// `stats cachectl` after the daemon's own, through add(name, value).
	ExtraStats func(add func(name string, value any))
	// TestCommands serves memcached-debug's test-only commands (debugtime);
	// -o relaxed_privileges, which memcached's test suite passes, sets it.
	TestCommands bool
	// batchFrom is the fewest ready connections a loop round queues its
	// replies for (0: minBatch); tests lower it to exercise the outbox.
	batchFrom int
}

// DefaultConfig is memcached 1.6.18's default, on the default port.
func DefaultConfig() Config {
	return Config{
		Port:          settings.Port,
		MaxConns:      settings.MaxConns,
		Threads:       settings.Threads,
		Backlog:       settings.Backlog,
		ReqsPerEvent:  settings.ReqsPerEvent,
		FlushEnabled:  true,
		WatcherLogBuf: int(settings.WatcherLogBuf),
		WorkerLogBuf:  int(settings.WorkerLogBuf),
		UnixMask:      settings.UnixMask,
		Extstore:      DefaultExtstoreSettings(),
		Store:         store.DefaultConfig(),
	}
}

const maxVerbosity = 2 // memcached's MAX_VERBOSITY_LEVEL

// EphemeralPort as -p or -U lets the kernel pick the port, as in memcached,
// where 0 turns the transport off; MEMCACHED_PORT_FILENAME tells which
// ports were picked.
const EphemeralPort = -1

// bindPort is the port to ask the kernel for.
func bindPort(p int) int { return max(p, 0) }

// PeerFilter decides whether a peer may stay connected; entry names the
// policy entry that admits it. Nil admits everyone, as memcached does.
type PeerFilter func(netip.Addr) (entry string, ok bool)

// Server is a running daemon: its store, listeners and connections.
type Server struct {
	cfg   Config
	store *store.Store
	log   *slog.Logger

	verbosity atomic.Int32
	ext       extstoreState
	auth      authState
	detail    atomic.Bool
	prefixes  *prefixStats
	logs      *logger
	filter    atomic.Pointer[PeerFilter]

	mu        sync.Mutex
	listeners []net.Listener
	udp       []*net.UDPConn
	// udpWorkers are the UDP sockets workers read: each of udp and its
	// duplicates, one per -t thread (under mu once serving).
	udpWorkers []*net.UDPConn
	tls        *tlsState // nil without -Z
	listenTLS  []bool    // per listener: TLS unless -l said notls:
	zones      []string  // zone each listener was asked for; Go's Addr() drops it
	listened   bool      // Listen succeeded, possibly binding nothing (-p 0)
	conns      map[*conn]struct{}
	closing    bool

	wg       sync.WaitGroup
	acceptWG sync.WaitGroup // accept loops, waited for before the worker loops close
	shutdown chan struct{}  // closed when a client asked for shutdown (-A)
	once     sync.Once

	started     time.Time
	currConns   atomic.Int64
	totalConns  atomic.Uint64
	rejected    atomic.Uint64
	denied      atomic.Uint64
	deniedPeers deniedPeers // the last refused peers, for explain
	panics      atomic.Uint64
	idleKicks   atomic.Uint64
	udpDenied   atomic.Uint64
	metaCmds    atomic.Uint64 // me commands, memcached's cmd_meta

	readBufs readBufs
	// locals are the worker loops' threadLocals, then the one of the
	// connections off the loops; fixed from New on, so stats may read
	// them whenever.
	locals []threadLocal
	// respLimit is how many response objects (get keys) one request may
	// have under read_buf_mem_limit, or noRespLimit; respOOM counts the
	// refusals, memcached's response_obj_oom.
	respLimit int
	respOOM   atomic.Uint64

	loops    []*eventLoop
	nextLoop atomic.Uint32
	loopWG   sync.WaitGroup
	stopFD   int           // eventfd: the worker loops stop (-1 before they start)
	detaches atomic.Uint64 // connections that had to block off their loop
	yields   atomic.Uint64 // -R budgets used up with input left: memcached's conn_yields
}

// New builds a server; Listen binds it.
func New(cfg Config) (*Server, error) {
	if cfg.UDPPort < EphemeralPort || cfg.UDPPort > 65535 {
		return nil, fmt.Errorf("UDP port (-U) %d is out of range -1-65535", cfg.UDPPort)
	}
	if cfg.ReqsPerEvent <= 0 {
		// A zero budget would yield before every request and serve none;
		// the flags refuse -R 0, and an embedding caller means the default.
		cfg.ReqsPerEvent = settings.ReqsPerEvent
	}
	if cfg.batchFrom <= 0 {
		cfg.batchFrom = minBatch
	}
	var tlsState *tlsState
	if cfg.TLS.Enabled {
		if cfg.UnixSocket != "" {
			return nil, errors.New("-Z (TLS) and -s (unix socket) do not combine: TLS is for TCP")
		}
		var err error
		if tlsState, err = newTLSState(cfg.TLS); err != nil {
			return nil, err
		}
	}
	if cfg.MaxConns <= 0 {
		return nil, fmt.Errorf("max connections (-c) must be positive, got %d", cfg.MaxConns)
	}
	if cfg.Port < EphemeralPort || cfg.Port > 65535 {
		return nil, fmt.Errorf("port (-p) %d is out of range -1-65535", cfg.Port)
	}
	st, err := store.New(cfg.Store)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		cfg:      cfg,
		store:    st,
		log:      log,
		tls:      tlsState,
		conns:    map[*conn]struct{}{},
		shutdown: make(chan struct{}),
		started:  time.Now(),
		stopFD:   -1,
		prefixes: newPrefixStats(cfg.PrefixDelimiter),
		logs:     newLogger(cfg.Threads, cfg.WorkerLogBuf, cfg.WatcherLogBuf, st),
	}
	s.detail.Store(cfg.Detail)
	s.ext.s = cfg.Extstore
	if cfg.Extstore == (ExtstoreSettings{}) {
		s.ext.s = DefaultExtstoreSettings() // a Config not built from DefaultConfig
	}
	s.verbosity.Store(int32(min(cfg.Verbosity, maxVerbosity)))
	s.newThreadLocals()
	s.limitBuffers()
	if err := s.auth.init(cfg); err != nil {
		st.Close()
		return nil, err
	}
	s.warnTruncatedAuthFile(s.auth.file.Load())
	s.warnMissingSASLDB()
	return s, nil
}

// Store exposes the storage, for tests and stats.
func (s *Server) Store() *store.Store { return s.store }

// SetVerbosity changes the log level at run time (verbosity command).
func (s *Server) SetVerbosity(level int) { s.verbosity.Store(int32(level)) }

// SetPeerFilter installs (or, with nil, removes) the allowlist, and closes
// live connections the new filter no longer admits.
func (s *Server) SetPeerFilter(f PeerFilter) {
	if f == nil {
		s.filter.Store(nil)
		return
	}
	s.filter.Store(&f)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		peer := c.peer()
		if !peer.IsValid() {
			continue
		}
		if _, allowed := f(peer); !allowed {
			s.countDenied(peer)
			s.log.Warn("closing connection from peer no longer allowed", "peer", peer)
			c.closeReason = protocol.ReasonDenied
			c.kill()
		}
	}
}

// idleReader closes connections idle longer than memcached's idle_timeout.
type idleReader struct {
	nc      net.Conn
	timeout time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.nc.SetReadDeadline(time.Now().Add(r.timeout))
	n, err := r.nc.Read(p)
	if isTimeout(err) {
		err = errIdle
	}
	return n, err
}

var errIdle = errors.New("idle timeout")

func socketFD(nc net.Conn) int {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	fd := 0
	raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// remoteName is the client's address as memcached's stats conns shows it.
// memcached reads only a TCP client's address (getpeername); a unix
// socket client is left zeroed, and a UDP worker shows the sender of the
// datagram it answers.
func (c *conn) remoteName() string {
	switch _, udp := c.rw.(udpIO); {
	case udp:
		return udpAddrText(c.peerPort)
	case c.peerPort.IsValid():
		return tcpAddrText(c.peerPort)
	}
	return unnamedAddr
}

// unnamedAddr is what memcached prints for an address it has not got.
const unnamedAddr = "?:<AF 0>"

// connAddr renders an address as memcached's stats conns does.
func connAddr(a net.Addr) string {
	if ua, ok := a.(*net.UnixAddr); ok {
		if ua == nil || ua.Name == "" || ua.Name == "@" {
			// The client end of a unix socket has no name; memcached
			// prints what inet_ntop leaves for an unnamed address.
			return unnamedAddr
		}
		return "unix:" + ua.Name
	}
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		if a == nil {
			return unnamedAddr
		}
		return a.String()
	}
	return tcpAddrText(ta.AddrPort())
}
