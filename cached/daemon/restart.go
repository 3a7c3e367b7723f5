package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cachectl/cachectl/cached"
)

// The stop signals, as memcached treats them. SIGINT and SIGTERM stop the
// daemon; SIGUSR1 stops it gracefully the same way and, with a memory file
// (-e), saves the item memory's metadata so the next start with the same
// settings is warm. Only SIGUSR1 saves: after any other stop, or a crash,
// the next start is cold, because the memory no longer matches what was
// saved at the last start.

// stopOnSignal returns a context that ends at the first stop signal, and
// its stop function. A SIGUSR1 first asks the store to save itself when it
// closes.
func stopOnSignal(srv *cached.Server, log *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	go func() {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				log.Warn("Gracefully stopping", "save_for_warm_restart", srv.Store().PersistOnClose())
			}
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
	}
}

// logRestart says how the item memory started when it is a memory file:
// memcached's "[restart]" lines, then the outcome.
func logRestart(log *slog.Logger, srv *cached.Server) {
	r := srv.Store().Restart()
	if r.MemoryFile == "" {
		return
	}
	for _, line := range r.Log {
		log.Warn(line)
	}
	if r.Warm {
		log.Warn("warm restart: items restored from the memory file", "memory_file", r.MemoryFile, "items", r.Items, "took", r.Took.Round(time.Millisecond))
	}
}

// closeStore closes the item memory once the server has stopped, saving it
// if SIGUSR1 (or `shutdown graceful`) asked; a save that fails is the
// daemon's error, since the operator expects a warm restart.
func closeStore(srv *cached.Server, log *slog.Logger) error {
	st := srv.Store()
	saving := st.Restart().SaveOnClose
	err := st.Close()
	switch {
	case err != nil && saving:
		return fmt.Errorf("[restart] failed to save metadata: %w", err)
	case err != nil:
		return fmt.Errorf("closing the item memory: %w", err)
	case saving:
		log.Warn("item memory saved for a warm restart", "memory_file", st.Restart().MemoryFile)
	}
	return nil
}

// keepWarm saves a warm-started store again when the daemon fails to start
// (say, the port is still held by the daemon it replaces): nothing has
// served from it, and the next attempt should find the items again.
func keepWarm(srv *cached.Server, log *slog.Logger) {
	st := srv.Store()
	if !st.Restart().Warm || !st.PersistOnClose() {
		return
	}
	if err := st.Close(); err != nil {
		log.Error("[restart] failed to save metadata", "err", err)
		return
	}
	log.Warn("the daemon did not start; the restored item memory is saved again for the next start",
		"memory_file", st.Restart().MemoryFile)
}
