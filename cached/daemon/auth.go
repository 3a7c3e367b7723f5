package daemon

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cachectl/cachectl/cached"
)

// SASLPasswordEnv names the SASL password file, as in memcached's
// sasl_pwdb build: user:password lines.
const SASLPasswordEnv = "MEMCACHED_SASL_PWDB"

// SASLConfEnv names the directories holding Cyrus SASL's memcached.conf,
// which names the sasldb used without SASLPasswordEnv.
const SASLConfEnv = "SASL_CONF_PATH"

// authConfig applies -S and -Y with memcached's rules: SASL is binary
// only and ASCII auth text only, so each picks the protocol when -B was
// not given and refuses a -B that contradicts it; neither works over UDP.
// With both, ASCII auth decides the protocol, as in memcached.
func (f *Flags) authConfig(c *cached.Config) error {
	if f.EnableSASL {
		if !f.Changed("protocol") {
			c.Protocol = cached.ProtocolBinary
		} else if c.Protocol != cached.ProtocolBinary {
			return usageErrorf("ERROR: You cannot allow the ASCII protocol while using SASL.")
		}
		if c.UDPPort != 0 {
			return usageErrorf("ERROR: Cannot enable UDP while using binary SASL authentication.")
		}
		c.SASL = true
		c.SASLPasswordDB = os.Getenv(SASLPasswordEnv)
		c.SASLConfPath = os.Getenv(SASLConfEnv)
	}
	if f.AuthFile != "" {
		if !f.Changed("protocol") {
			c.Protocol = cached.ProtocolASCII
		} else if c.Protocol != cached.ProtocolASCII {
			return usageErrorf("ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.")
		}
		if c.UDPPort != 0 {
			return usageErrorf("Cannot use UDP with ascii authentication enabled (-U 0 to disable)")
		}
		c.AuthFile = f.AuthFile
	}
	return nil
}

// reloadAuthOnHUP re-reads the -Y password file on SIGHUP until ctx ends,
// as memcached does; a file that fails to load keeps the previous one.
func reloadAuthOnHUP(ctx context.Context, srv *cached.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := srv.ReloadAuthFile(); err != nil {
					log.Error("auth file not reloaded; the previous one stays in force", "err", err)
				} else {
					log.Warn("auth file reloaded")
				}
			}
		}
	}()
}
