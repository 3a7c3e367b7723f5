package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/cachectl/cachectl/cached"
)

// Options are what Run's caller adds around the daemon.
type Options struct {
	// Stderr receives the log when the configuration carries no logger.
	Stderr io.Writer
	// Setup, if set, runs once the listeners are bound, privileges are
	// dropped and the pid file is written, before the first connection is
	// served. ctx ends when the daemon is told to stop.
	Setup func(ctx context.Context, srv *cached.Server, log *slog.Logger) error
	// BeforeDrop, if set, runs once the listeners are bound and before
	// privileges are dropped to user (Config.User): for what needs root
	// only to begin.
	BeforeDrop func(srv *cached.Server, user string, log *slog.Logger) error
}

// Run binds, drops privileges, serves until SIGINT, SIGTERM or SIGUSR1,
// then lets replies in flight finish and returns nil; SIGUSR1 also saves
// the item memory for a warm restart when it is a memory file (-e). With
// -d it returns nil as soon as a background copy of the daemon listens
// (detach.go).
func Run(cfg Config, opts Options) (err error) {
	ready := readyPipe()
	if cfg.Daemonize && ready == nil {
		return detach(cfg.Server.Verbosity > 0)
	}
	if ready != nil {
		// Until it is ready, the background child's errors go to the
		// parent waiting in the foreground.
		defer func() {
			if ready != nil {
				childReport(ready, err)
			}
		}()
	}
	log := daemonLogger(cfg.Server, opts)
	cfg.Server.Logger = log
	if cfg.MaxCore {
		if err := maximizeCore(); err != nil {
			return err
		}
	}
	// One P per worker loop, which holds it while waiting in epoll_wait,
	// and one spare for accepting, timers and the collector. Without the
	// spare the runtime's monitor takes a waiting loop's P back every
	// 20 us (it sees no idle P) and wakes that often itself: about 6% of
	// the daemon's CPU under load.
	runtime.GOMAXPROCS(cfg.Server.Threads + 1)
	stopTrace, err := startTrace()
	if err != nil {
		return usageError(err)
	}
	defer stopTrace()

	srv, err := cached.New(cfg.Server)
	if err != nil {
		return usageError(err)
	}
	logRestart(log, srv)
	serving := false
	defer func() {
		if err != nil && !serving {
			keepWarm(srv, log)
		}
	}()
	if err := srv.Listen(); err != nil {
		return explainListenError(err)
	}
	if name := os.Getenv(PortFileEnv); name != "" && cfg.Server.UnixSocket == "" {
		if err := writePortFile(name, srv, cfg.Server.Listen); err != nil {
			log.Warn("port file not written", "err", err)
		}
	}
	if opts.BeforeDrop != nil {
		if err := opts.BeforeDrop(srv, cfg.User, log); err != nil {
			return err
		}
	}
	if cfg.LockMemory {
		// Before the drop, while root may still raise RLIMIT_MEMLOCK.
		lockMemory(cfg.User != "" && os.Geteuid() == 0, log)
	}
	if err := dropPrivileges(cfg.User, log); err != nil {
		return err
	}
	if cfg.PidFile != "" {
		if err := os.WriteFile(cfg.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing pid file: %w", err)
		}
		defer os.Remove(cfg.PidFile)
	}
	ctx, stop := stopOnSignal(srv, log)
	defer stop()
	if cfg.Server.AuthFile != "" {
		reloadAuthOnHUP(ctx, srv, log)
	}
	if opts.Setup != nil {
		if err := opts.Setup(ctx, srv, log); err != nil {
			return err
		}
	}
	logListening(log, srv, cfg.Server)
	if kb, err := releaseStartupPages(); err != nil {
		log.Info("startup pages of the binary stay mapped", "err", err)
	} else {
		log.Debug("released the startup pages of the binary", "kb", kb)
	}
	svc := announceReady(ctx, log, srv)
	childReport(ready, nil)
	ready = nil
	serving = true
	err = srv.Serve(ctx)
	svc.stopping()
	if cerr := closeStore(srv, log); err == nil {
		err = cerr
	}
	log.Warn("cachectl daemon stopped")
	return err
}

// logListening says where the daemon serves, at the default level: an
// operator starting it must see that it is up and where.
func logListening(log *slog.Logger, srv *cached.Server, cfg cached.Config) {
	addrs := make([]string, 0, len(srv.Addrs()))
	for _, ap := range srv.Addrs() {
		addrs = append(addrs, ap.String())
	}
	udp := make([]string, 0, len(srv.UDPAddrs()))
	for _, ap := range srv.UDPAddrs() {
		udp = append(udp, ap.String())
	}
	log.Warn("cachectl daemon listening", "addrs", strings.Join(addrs, ","), "udp", strings.Join(udp, ","),
		"unix", cfg.UnixSocket, "tls", cfg.TLS.Enabled, "memory_mb", cfg.Store.MemoryLimit>>20, "version", cached.Version)
}

// daemonLogger is the logger the caller configured, or else one writing to
// Options.Stderr (os.Stderr by default) at the level -v asks for.
func daemonLogger(cfg cached.Config, opts Options) *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	w := opts.Stderr
	if w == nil {
		w = os.Stderr
	}
	return newLogger(w, cfg.Verbosity)
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
