package cached

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// TLSConfig is memcached's -Z with its -o ssl_* options. Go's crypto/tls
// does the work; OpenSSL-only knobs (cipher strings, kernel TLS) are not
// offered rather than accepted and ignored.
type TLSConfig struct {
	Enabled    bool   // -Z
	ChainCert  string // ssl_chain_cert: PEM certificate chain
	Key        string // ssl_key: PEM private key
	CACert     string // ssl_ca_cert: PEM CAs that sign client certificates
	VerifyMode int    // ssl_verify_mode: 0 none, 1 request, 2 require, 3 once
	MinVersion string // ssl_min_version: tlsv1.2 (default) or tlsv1.3, ...
}

// Client certificate policies, memcached's ssl_verify_mode values.
const (
	VerifyNone    = 0 // no client certificate asked for
	VerifyRequest = 1 // asked for; verified against ssl_ca_cert when given
	VerifyRequire = 2 // required and verified: no certificate, no connection
	VerifyOnce    = 3 // as require; OpenSSL's "once" only matters on renegotiation, which Go never does
)

// tlsVersions are memcached's ssl_min_version names.
var tlsVersions = map[string]uint16{
	"tlsv1": tls.VersionTLS10, "tlsv1.1": tls.VersionTLS11,
	"tlsv1.2": tls.VersionTLS12, "tlsv1.3": tls.VersionTLS13,
}

// handshakeTimeout bounds how long a TLS client may take to say hello,
// so a silent peer cannot hold a connection slot before the protocol's
// own idle timeout can apply.
const handshakeTimeout = 10 * time.Second

// serverConfig loads the certificates. Every error names the option to fix.
func (t TLSConfig) serverConfig() (*tls.Config, error) {
	if t.ChainCert == "" || t.Key == "" {
		return nil, errors.New("-Z needs a certificate and key: -o ssl_chain_cert=FILE,ssl_key=FILE")
	}
	cert, err := tls.LoadX509KeyPair(t.ChainCert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("loading ssl_chain_cert %s and ssl_key %s: %w", t.ChainCert, t.Key, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.MinVersion != "" {
		v, ok := tlsVersions[t.MinVersion]
		if !ok {
			return nil, fmt.Errorf("ssl_min_version %q: should be one of tlsv1, tlsv1.1, tlsv1.2, tlsv1.3", t.MinVersion)
		}
		cfg.MinVersion = v
	}
	if t.CACert != "" {
		pem, err := os.ReadFile(t.CACert)
		if err != nil {
			return nil, fmt.Errorf("reading ssl_ca_cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl_ca_cert %s holds no PEM certificate", t.CACert)
		}
		cfg.ClientCAs = pool
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
	if err := tc.HandshakeContext(ctx); err != nil {
		// A refused or broken handshake is the client's problem, not the
		// daemon's: count it as memcached's ssl_handshake_errors, warn, close.
		s.tlsErrors.Add(1)
		s.log.Warn("TLS handshake failed", "conn", c.id, "peer", c.remote, "err", err)
		return errClose
	}
	if s.verbosity.Load() > 0 {
		st := tc.ConnectionState()
		subject := ""
		if len(st.PeerCertificates) > 0 {
			subject = st.PeerCertificates[0].Subject.String()
		}
		s.log.Info("TLS client", "conn", c.id, "peer", c.remote, "version", tls.VersionName(st.Version), "client_cert", subject)
	}
	return nil
}
