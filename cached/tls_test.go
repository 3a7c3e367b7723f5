package cached

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// testPKI is a CA, a server certificate for 127.0.0.1, a client
// certificate from the same CA and one from a CA the server does not trust.
type testPKI struct {
	dir                          string
	caPEM, serverCert, serverKey string
	clientCert, clientKey        string
	rogueCert, rogueKey          string
	pool                         *x509.CertPool
	client, rogue                tls.Certificate
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), pool: x509.NewCertPool()}
	ca, caKey := makeCert(t, nil, nil, "cachectl test CA", true)
	rogueCA, rogueKey := makeCert(t, nil, nil, "someone else's CA", true)
	p.pool.AddCert(ca)
	p.caPEM = p.write(t, "ca.pem", pemCert(ca))
	srv, srvKey := makeCert(t, ca, caKey, "cached", false)
	p.serverCert, p.serverKey = p.write(t, "server.pem", pemCert(srv)), p.write(t, "server.key", pemKey(t, srvKey))
	cli, cliKey := makeCert(t, ca, caKey, "app-1", false)
	p.clientCert, p.clientKey = p.write(t, "client.pem", pemCert(cli)), p.write(t, "client.key", pemKey(t, cliKey))
	rog, rogKey := makeCert(t, rogueCA, rogueKey, "intruder", false)
	p.rogueCert, p.rogueKey = p.write(t, "rogue.pem", pemCert(rog)), p.write(t, "rogue.key", pemKey(t, rogKey))
	var err error
	if p.client, err = tls.LoadX509KeyPair(p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}
	if p.rogue, err = tls.LoadX509KeyPair(p.rogueCert, p.rogueKey); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *testPKI) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var serial int64

func makeCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage, tmpl.IPAddresses = nil, nil
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemKey(t testing.TB, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func serveTLS(t *testing.T, p *testPKI, mode int) (*Server, string) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Port = freeLoopbackPort(t)
	cfg.TLS = TLSConfig{Enabled: true, ChainCert: p.serverCert, Key: p.serverKey, VerifyMode: mode}
	if mode != VerifyNone {
		cfg.TLS.CACert = p.caPEM
	}
	srv := serveTransport(t, cfg, nil)
	return srv, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(cfg.Port)).String()
}

// tlsVersion dials with cert (nil for none) and asks for the version;
// it returns the reply line or the error that refused the client.
func tlsVersion(p *testPKI, addr string, cert *tls.Certificate) (string, error) {
	cfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte("version\r\n")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := nc.Read(buf)
	if n == 0 {
		return "", err
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

func TestTLSNoClientCert(t *testing.T) {
	p := newTestPKI(t)
	_, addr := serveTLS(t, p, VerifyNone)
	if got, err := tlsVersion(p, addr, nil); got != "VERSION "+ProtocolVersion {
		t.Errorf("Go TLS client: %q, %v", got, err)
	}
	// Plain text on a TLS port is not a memcached conversation.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write([]byte("version\r\n"))
	if b, _ := readAll(nc); bytes.Contains(b, []byte("VERSION")) {
		t.Errorf("plain-text client answered on the TLS port: %q", b)
	}
}

func readAll(nc net.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for range 1000 {
		n, err := nc.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// TestTLSClientVerification: with ssl_verify_mode 2 only a client holding
// a certificate from ssl_ca_cert gets in; others are refused and counted.
func TestTLSClientVerification(t *testing.T) {
	p := newTestPKI(t)
	srv, addr := serveTLS(t, p, VerifyRequire)
	if got, err := tlsVersion(p, addr, &p.client); got != "VERSION "+ProtocolVersion {
		t.Errorf("client with a certificate from the CA: %q, %v", got, err)
	}
	if got, err := tlsVersion(p, addr, nil); got != "" || err == nil {
		t.Errorf("client without a certificate got %q (err %v), want refusal", got, err)
	}
	if got, err := tlsVersion(p, addr, &p.rogue); got != "" || err == nil {
		t.Errorf("client with an untrusted certificate got %q (err %v), want refusal", got, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.tls.handshakes.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.tls.handshakes.Load(); n != 2 {
		t.Errorf("ssl_handshake_errors = %d, want 2", n)
	}

	cfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{p.client}}
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	settings := textRequest(t, nc, "stats settings\r\n", "END")
	for name, want := range map[string]string{"ssl_enabled": "yes", "ssl_chain_cert": p.serverCert, "ssl_key": p.serverKey,
		"ssl_ca_cert": p.caPEM, "ssl_verify_mode": "3", "ssl_min_version": "tlsv1.2"} {
		if got := statValue(settings, name); got != want {
			t.Errorf("stats settings %s = %q, want %q", name, got, want)
		}
	}
	if got := statValue(textRequest(t, nc, "stats\r\n", "END"), "ssl_handshake_errors"); got != "2" {
		t.Errorf("stats ssl_handshake_errors = %q", got)
	}
}

// TestTLSOpenSSLClient talks to the daemon with openssl s_client, with
// and without the client certificate that verification requires.
func TestTLSOpenSSLClient(t *testing.T) {
	nstest.RequireCommands(t, "openssl")
	p := newTestPKI(t)
	_, addr := serveTLS(t, p, VerifyRequire)
	const input = "set k 0 0 2\r\nok\r\nget k\r\n"
	client := func(extra ...string) string {
		return sClient(t, addr, input, append([]string{"-CAfile", p.caPEM, "-verify_return_error"}, extra...)...)
	}
	if got := client("-cert", p.clientCert, "-key", p.clientKey); got != "STORED\r\nVALUE k 0 2\r\nok\r\nEND\r\n" {
		t.Errorf("openssl s_client with the client certificate: %q", got)
	}
	if got := client(); strings.Contains(got, "STORED") {
		t.Errorf("openssl s_client without a certificate was served: %q", got)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	p := newTestPKI(t)
	tests := []struct {
		cfg  TLSConfig
		want string
	}{
		{TLSConfig{Enabled: true}, "ssl_chain_cert=FILE,ssl_key=FILE"},
		{TLSConfig{Enabled: true, ChainCert: p.serverCert, Key: p.clientKey}, "Error validating the certificate"},
		{TLSConfig{Enabled: true, ChainCert: p.serverCert, Key: p.serverKey, VerifyMode: VerifyRequire}, "add -o ssl_ca_cert=FILE"},
		{TLSConfig{Enabled: true, ChainCert: p.serverCert, Key: p.serverKey, CACert: p.serverKey, VerifyMode: 1}, "Error loading the CA certificate"},
		{TLSConfig{Enabled: true, ChainCert: p.serverCert, Key: p.serverKey, VerifyMode: 4}, "ssl_verify_mode 4"},
		{TLSConfig{Enabled: true, ChainCert: p.serverCert, Key: p.serverKey, MinVersion: "sslv3"}, "ssl_min_version"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TLS = tt.cfg
			srv, err := New(cfg)
			if err == nil {
				srv.store.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
