package cached

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TLSConfig is memcached's -Z with its -o ssl_* options. Go's crypto/tls
// does the work: OpenSSL cipher names are mapped onto Go's suites
// (tls_ciphers.go) and kernel TLS is not offered.
type TLSConfig struct {
	Enabled      bool   // -Z
	ChainCert    string // ssl_chain_cert: PEM certificate chain
	Key          string // ssl_key: PEM private key
	CACert       string // ssl_ca_cert: PEM CAs that sign client certificates
	VerifyMode   int    // ssl_verify_mode: 0 none, 1 request, 2 require, 3 once
	MinVersion   string // ssl_min_version: tlsv1.0 ... tlsv1.3 (default tlsv1.2)
	Ciphers      string // ssl_ciphers: OpenSSL names, colon-separated (TLS 1.2 and older)
	WBufSize     int    // ssl_wbuf_size in bytes: the most one TLS write carries
	SessionCache bool   // ssl_session_cache: count new sessions as memcached does (ssl_new_sessions)
}

// Client certificate policies, memcached's ssl_verify_mode values.
const (
	VerifyNone    = 0 // no client certificate asked for
	VerifyRequest = 1 // asked for; verified against ssl_ca_cert when given
	VerifyRequire = 2 // required and verified: no certificate, no connection
	VerifyOnce    = 3 // as require; OpenSSL's "once" only matters on renegotiation, which Go never does
)

// DefaultTLSWBufSize is memcached's ssl_wbuf_size default, 16 KB.
const DefaultTLSWBufSize = 16 << 10

// tlsVersions are the names memcached prints for ssl_min_version (its
// numbers 0-3 are turned into these by the flag parser).
var tlsVersions = map[string]uint16{
	"tlsv1.0": tls.VersionTLS10, "tlsv1": tls.VersionTLS10, "tlsv1.1": tls.VersionTLS11,
	"tlsv1.2": tls.VersionTLS12, "tlsv1.3": tls.VersionTLS13,
}

// handshakeTimeout bounds how long a TLS client may take to say hello,
// so a silent peer cannot hold a connection slot before the protocol's
// own idle timeout can apply.
const handshakeTimeout = 10 * time.Second

// tlsState is a TLS-enabled server's certificates and counters. The
// configuration handed to every handshake defers to current, so
// refresh_certs swaps certificates without touching live connections.
type tlsState struct {
	cfg     TLSConfig
	front   *tls.Config
	current atomic.Pointer[tls.Config]
	// refreshed is the store clock at the last successful load. It starts
	// at 0, not at startup: memcached loads its certificates before its
	// clock runs, so its time_since_server_cert_refresh counts from the
	// clock's origin until the first refresh_certs, and so does this one.
	refreshed   atomic.Uint32
	newSessions atomic.Uint64 // ssl_new_sessions
	handshakes  atomic.Uint64 // ssl_handshake_errors
	// noTicket holds, by underlying connection, the handshakes under way
	// whose client offered no session ticket (ssl_session_cache only);
	// handshake takes each entry out, whatever the outcome.
	noTicket sync.Map
}

// newTLSState loads the certificates. Every error names the option to fix.
func newTLSState(t TLSConfig) (*tlsState, error) {
	if t.ChainCert == "" || t.Key == "" {
		return nil, errors.New("-Z needs a certificate and key: -o ssl_chain_cert=FILE,ssl_key=FILE")
	}
	if t.WBufSize == 0 {
		t.WBufSize = DefaultTLSWBufSize
	}
	st := &tlsState{cfg: t}
	cfg, err := st.build()
	if err != nil {
		return nil, err
	}
	st.current.Store(cfg)
	// The front configuration only hands each client the current one;
	// session ticket keys stay the front's, so a refresh does not cut off
	// session resumption.
	st.front = &tls.Config{
		MinVersion: cfg.MinVersion,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if t.SessionCache && !slices.Contains(hello.Extensions, extSessionTicket) {
				st.noTicket.Store(hello.Conn, struct{}{})
			}
			return st.current.Load(), nil
		},
	}
	return st, nil
}

// build makes a handshake configuration from the files as they are now.
func (st *tlsState) build() (*tls.Config, error) {
	t := st.cfg
	cert, pool, err := loadServerCertificates(t)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, ClientCAs: pool}
	if t.MinVersion != "" {
		v, ok := tlsVersions[t.MinVersion]
		if !ok {
			return nil, fmt.Errorf("ssl_min_version %q: should be one of 0 (tlsv1.0), 1 (tlsv1.1), 2 (tlsv1.2) or 3 (tlsv1.3)", t.MinVersion)
		}
		cfg.MinVersion = v
	}
	if cfg.CipherSuites, err = parseCiphers(t.Ciphers); err != nil {
		return nil, err
	}
	switch t.VerifyMode {
	case VerifyNone:
		cfg.ClientAuth = tls.NoClientCert
	case VerifyRequest:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case VerifyRequire, VerifyOnce:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("ssl_verify_mode %d: should be 0 (none), 1 (request), 2 (require) or 3 (once)", t.VerifyMode)
	}
	if t.VerifyMode != VerifyNone && cfg.ClientCAs == nil {
		return nil, fmt.Errorf("ssl_verify_mode %d verifies client certificates and needs the CA that signs them: add -o ssl_ca_cert=FILE", t.VerifyMode)
	}
	return cfg, nil
}

// extSessionTicket is the session ticket extension's number (RFC 5077).
const extSessionTicket = 35

// sessionsCounted is what a handshake adds to ssl_new_sessions: the calls
// memcached's OpenSSL makes to its new-session callback, which
// t/ssl_session_resumption.t and monitoring read. In TLS 1.3 it runs
// once per ticket OpenSSL sends: two after a full handshake, one after a
// resumption. In TLS 1.2 it runs only for a session cached by ID, that
// is a full handshake with a client that offered no ticket; a ticket
// carries the session itself, and a resumption creates none.
func sessionsCounted(version uint16, resumed, offeredTicket bool) uint64 {
	switch {
	case version >= tls.VersionTLS13 && resumed:
		return 1
	case version >= tls.VersionTLS13:
		return 2
	case resumed || offeredTicket:
		return 0
	default:
		return 1
	}
}

// opensslVerifyMode is the bitmask memcached stores and `stats settings`
// prints: SSL_VERIFY_PEER 1, FAIL_IF_NO_PEER_CERT 2, CLIENT_ONCE 4.
func opensslVerifyMode(mode int) int {
	return [...]int{0, 1, 3, 7}[mode]
}

// handshake completes a TLS handshake within handshakeTimeout and logs
// the verified client identity, so a peer is known by more than its IP.
func (s *Server) handshake(c *conn, tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	_, noTicket := s.tls.noTicket.LoadAndDelete(tc.NetConn())
	if err != nil {
		// A refused or broken handshake is the client's problem, not the
		// daemon's: count it as memcached's ssl_handshake_errors, warn, close.
		s.tls.handshakes.Add(1)
		s.log.Warn("TLS handshake failed", "conn", c.id, "peer", c.remoteName(), "err", err)
		return errClose
	}
	if s.tls.cfg.SessionCache {
		cs := tc.ConnectionState()
		s.tls.newSessions.Add(sessionsCounted(cs.Version, cs.DidResume, !noTicket))
	}
	if s.verbosity.Load() > 0 {
		st := tc.ConnectionState()
		subject := ""
		if len(st.PeerCertificates) > 0 {
			subject = st.PeerCertificates[0].Subject.String()
		}
		s.log.Info("TLS client", "conn", c.id, "peer", c.remoteName(), "version", tls.VersionName(st.Version), "client_cert", subject)
	}
	return nil
}

// tlsIO is a TLS connection's two directions: reads straight from
// crypto/tls or through the idle timeout, writes in ssl_wbuf_size pieces.
type tlsIO struct {
	io.Reader
	tlsWriter
}

// tlsWriter caps each write at ssl_wbuf_size, the most memcached copies
// into its TLS output buffer for one SSL_write.
type tlsWriter struct {
	nc   net.Conn
	wbuf int
}

func (w tlsWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := w.nc.Write(p[done:min(len(p), done+w.wbuf)])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// fillNext reads the next request of a goroutine-served (TLS)
// connection. Between requests it holds no input, output or scratch
// buffer: it waits with a one-byte read and takes an input buffer only
// once that byte arrives; the next read then returns the rest of the TLS
// record, which crypto/tls has already decrypted.
func (c *conn) fillNext() error {
	if c.nc == nil || c.r != c.w {
		return c.fill()
	}
	c.idle()
	n, err := c.rw.Read(c.peek[:])
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	if err := c.takeInput(); err != nil {
		return err
	}
	c.in[0] = c.peek[0]
	c.r, c.w = 0, 1
	c.thread().bytesRead.Add(1)
	return nil
}
