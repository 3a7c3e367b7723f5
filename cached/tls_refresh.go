package cached

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/cachectl/cachectl/cached/protocol"
)

// Certificates are loaded at startup and again by the refresh_certs
// command, which lets an operator rotate them without a restart. The
// errors are memcached's load_server_certificates messages, with Go's
// reason where OpenSSL's would be.

// loadServerCertificates reads the chain, the key and the client CAs.
func loadServerCertificates(t TLSConfig) (tls.Certificate, *x509.CertPool, error) {
	chain, err := readPEM(t.ChainCert, "CERTIFICATE")
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("Error loading the certificate chain: %s : %w", t.ChainCert, err)
	}
	key, err := readPEM(t.Key, "PRIVATE KEY")
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("Error loading the key: %s : %w", t.Key, err)
	}
	cert, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("Error validating the certificate: %w", err)
	}
	if t.CACert == "" {
		return cert, nil, nil
	}
	ca, err := readPEM(t.CACert, "CERTIFICATE")
	pool := x509.NewCertPool()
	if err == nil && !pool.AppendCertsFromPEM(ca) {
		err = errors.New("holds no PEM certificate")
	}
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("Error loading the CA certificate: %s : %w", t.CACert, err)
	}
	return cert, pool, nil
}

// readPEM reads a file that must hold a PEM block whose type ends in
// kind ("RSA PRIVATE KEY", "EC PRIVATE KEY" and "PRIVATE KEY" are keys).
func readPEM(path, kind string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return nil, fmt.Errorf("no PEM %s in the file", kind)
		}
		if len(block.Type) >= len(kind) && block.Type[len(block.Type)-len(kind):] == kind {
			return data, nil
		}
	}
}

// RefreshCerts reloads the certificate chain, key and client CAs from
// their files. On failure the certificates in use stay.
func (s *Server) RefreshCerts() error {
	if s.tls == nil {
		return errors.New(protocol.ReplyRefreshNoTLS)
	}
	cfg, err := s.tls.build()
	if err != nil {
		return err
	}
	s.tls.current.Store(cfg)
	s.tls.refreshed.Store(s.store.Now())
	return nil
}

// refreshCerts is the refresh_certs command. noreply silences OK, not an
// error, as in memcached.
func (c *conn) refreshCerts(toks [][]byte, _ []byte) error {
	noreply := len(toks) > 1 && string(toks[len(toks)-1]) == "noreply"
	if err := c.srv.RefreshCerts(); err != nil {
		c.srv.log.Warn("refresh_certs failed; the certificates in use stay", "err", err)
		c.reply(err.Error())
		return nil
	}
	c.noreply = noreply
	c.reply(protocol.ReplyOK)
	return nil
}
