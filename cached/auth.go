package cached

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/cachectl/cachectl/cached/protocol"
)

// Authentication, as memcached 1.6.18 does it: ASCII auth (-Y) asks every
// text connection for a "set" whose value is "user password" before it
// serves anything else; binary SASL (-S) answers every binary command
// but the SASL ones and version with "Auth failure." and hangs up until
// the connection authenticates with PLAIN. Each connection authenticates
// on its own. Neither replaces the allowlist: a peer the policy refuses
// is closed before it can send a byte.

// authState is the daemon's side of authentication.
type authState struct {
	file atomic.Pointer[authFile] // -Y: nil when ASCII auth is off
	sasl bool                     // -S
	pwdb string                   // the SASL password file (MEMCACHED_SASL_PWDB)
	// cyrus is Cyrus SASL's setup, used when no password file is named.
	cyrus *cyrusSASL
	mechs []string // the SASL mechanisms offered, in the order listed

	cmds   atomic.Uint64 // memcached's auth_cmds: every verdict given
	errors atomic.Uint64 // auth_errors: the refusals among them
}

// init loads what the configuration names.
func (a *authState) init(cfg Config) error {
	if cfg.AuthFile != "" {
		f, err := loadAuthFile(cfg.AuthFile)
		if err != nil {
			return err
		}
		a.file.Store(f)
	}
	if cfg.SASL {
		a.sasl = true
		if cfg.SASLPasswordDB != "" {
			if _, err := readSASLDB(cfg.SASLPasswordDB); err != nil {
				return fmt.Errorf("-S: MEMCACHED_SASL_PWDB: %w", err)
			}
			a.pwdb = cfg.SASLPasswordDB
			// A user:password check knows no secret to answer a
			// challenge with: PLAIN only.
			a.mechs = []string{protocol.MechPLAIN}
			return nil
		}
		c, err := loadCyrusSASL(cfg.SASLConfPath)
		if err != nil {
			return fmt.Errorf("-S: %w", err)
		}
		// A sasldb that is not there yet may be created later, as Cyrus
		// opens it at every lookup; one that is there must be readable.
		if _, err := c.readUsers(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("-S: %w", err)
		}
		a.cyrus = c
		a.mechs = c.mechs
	}
	return nil
}

// verdict counts an authentication attempt's outcome.
func (a *authState) verdict(ok bool) {
	a.cmds.Add(1)
	if !ok {
		a.errors.Add(1)
	}
}

// ReloadAuthFile re-reads the -Y password file, as memcached does on
// SIGHUP. A file that fails to load leaves the previous one in force.
func (s *Server) ReloadAuthFile() error {
	old := s.auth.file.Load()
	if old == nil {
		return nil
	}
	f, err := loadAuthFile(old.path)
	if err != nil {
		return err
	}
	s.auth.file.Store(f)
	s.warnTruncatedAuthFile(f)
	return nil
}

// warnTruncatedAuthFile says when entries were ignored, which memcached
// does silently.
func (s *Server) warnTruncatedAuthFile(f *authFile) {
	if f != nil && f.truncated {
		s.log.Warn("auth file holds more than 8 entries; as memcached, only the first 8 are used", "file", f.path)
	}
}

// warnMissingSASLDB says when -S starts before its sasldb exists: that is
// allowed (it is read at each authentication), but until it appears no
// one can authenticate, which a mistyped sasldb_path would also cause.
func (s *Server) warnMissingSASLDB() {
	if c := s.auth.cyrus; c != nil {
		if _, err := os.Stat(c.sasldb); errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("the sasldb does not exist yet: no SASL client can authenticate until saslpasswd2 creates it",
				"sasldb", c.sasldb, "config", c.conf)
		}
	}
}

// connAuth is a connection's authentication state.
type connAuth struct {
	ok bool // authenticated (or nothing to authenticate)
	// pending is the length of the ASCII auth token still to arrive,
	// CRLF included; 0 while waiting for the "set" line.
	pending int
	// sasl is the binary SASL exchange, made at the first SASL command.
	sasl *saslExchange
}

// authenticate runs the ASCII auth requests in the buffer until the
// connection is authenticated or more input is needed.
func (c *conn) authenticate() error {
	for !c.auth.ok && !c.closing {
		if c.auth.pending == 0 {
			more, err := c.authHeader()
			if err != nil || more {
				return err
			}
			continue
		}
		if c.w-c.r < c.auth.pending {
			return nil
		}
		block := c.in[c.r : c.r+c.auth.pending]
		c.r += c.auth.pending
		c.auth.pending = 0
		user, pass, err := protocol.ParseAuthToken(block, c.tokens)
		if err != nil {
			return c.refuse(false, err)
		}
		c.auth.ok = c.srv.auth.file.Load().check(user, pass)
		c.srv.auth.verdict(c.auth.ok)
		if c.auth.ok {
			c.reply(protocol.ReplyStored)
		} else {
			c.reply(protocol.ReplyAuthFailure)
		}
	}
	return nil
}

// authHeader reads the "set" line of an ASCII authentication; more says
// the line is not complete yet.
func (c *conn) authHeader() (more bool, err error) {
	nl := bytes.IndexByte(c.in[c.r:c.w], '\n')
	if nl < 0 {
		// memcached gives up on a line this long without a newline,
		// whatever it starts with.
		if c.w-c.r > protocol.LineLimitNoGet {
			return false, errClose
		}
		return true, nil
	}
	line, _, _ := protocol.NextLine(c.in[c.r : c.r+nl+1])
	c.r += nl + 1
	c.setState(stateParseCmd)
	c.lastCmd.Store(c.srv.store.Now())
	n, err := protocol.ParseAuthHeader(line, c.tokens)
	if err != nil {
		return false, c.refuse(false, err)
	}
	if int64(n)+2 > readBufferSize {
		// memcached waits for the token in its 16 KB read buffer and
		// closes the connection once that is full.
		return false, errClose
	}
	c.auth.pending = int(n) + 2
	return false, nil
}
