package cached

import (
	"crypto/tls"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// TLS extras compared with stock memcached 1.6.18: a notls: listener
// beside a TLS one, ssl_ciphers, ssl_min_version, the ssl_* stats and
// refresh_certs, driven with openssl s_client.

// tlsPair runs memcached and this daemon with the same TLS flags, each on
// a plain (notls:) and a TLS listener; it returns their plain and TLS
// addresses.
func tlsPair(t *testing.T, opts string) (plain, secure [2]string) {
	t.Helper()
	mcPath := memcachedPath(t)
	self := testBinary(t)
	for i, bin := range []string{mcPath, self} {
		p, s := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
		plain[i], secure[i] = "127.0.0.1:"+p, "127.0.0.1:"+s
		args := []string{"-Z", "-o", opts, "-p", s, "-l", "notls:" + plain[i] + "," + secure[i]}
		cmd := exec.Command(bin, append(args, "-U", "0", "-u", "root")...)
		if i == 1 {
			cmd.Env = append(os.Environ(), DaemonEnv+"=1")
		}
		startConnectable(t, plain[i], cmd)
	}
	return plain, secure
}

// sClient runs openssl s_client against addr with extra flags, sends
// input and quit, and returns what the server answered ("" when the
// handshake failed).
func sClient(t *testing.T, addr, input string, extra ...string) string {
	t.Helper()
	args := append([]string{"s_client", "-connect", addr, "-quiet"}, extra...)
	cmd := exec.Command("openssl", args...)
	cmd.Stdin = strings.NewReader(input + "quit\r\n")
	cmd.WaitDelay = time.Second
	done := make(chan []byte, 1)
	go func() { out, _ := cmd.Output(); done <- out }()
	select {
	case out := <-done:
		return string(out)
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("openssl s_client %v did not finish in 15s", extra)
		return ""
	}
}

func TestTLSExtrasLikeMemcached(t *testing.T) {
	nstest.RequireCommands(t, "openssl")
	p := newTestPKI(t)
	opts := "ssl_chain_cert=" + p.serverCert + ",ssl_key=" + p.serverKey +
		",ssl_ciphers=ECDHE-ECDSA-AES128-GCM-SHA256,ssl_session_cache,ssl_wbuf_size=4"
	plain, secure := tlsPair(t, opts)
	names := [2]string{"memcached", "cachectl"}
	for i := range 2 {
		if got := authExchange(t, plain[i], []byte("set k 0 0 2\r\nok\r\n")); got != "STORED\r\n" {
			t.Errorf("%s: plain text on the notls: listener: %q", names[i], got)
		}
		if got := sClient(t, secure[i], "get k\r\n", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"); got != "VALUE k 0 2\r\nok\r\nEND\r\n" {
			t.Errorf("%s: TLS 1.2 with the configured cipher: %q", names[i], got)
		}
		if got := sClient(t, secure[i], "version\r\n", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"); got != "" {
			t.Errorf("%s: a cipher outside ssl_ciphers was served: %q", names[i], got)
		}
		// TLS 1.3 suites are not governed by ssl_ciphers in either.
		if got := sClient(t, secure[i], "version\r\n", "-tls1_3"); got != "VERSION 1.6.18\r\n" {
			t.Errorf("%s: TLS 1.3: %q", names[i], got)
		}
		if got := authExchange(t, plain[i], []byte("refresh_certs\r\n"), []byte("refresh_certs noreply\r\nversion\r\n")); got != "OK\r\nVERSION 1.6.18\r\n" {
			t.Errorf("%s: refresh_certs: %q", names[i], got)
		}
	}
	// memcached puts the ssl_* stats after the log_* ones; t/stats.t and
	// tools that count or walk `stats` see them where memcached has them.
	var keys [2][]string
	for i := range 2 {
		for _, l := range strings.Split(authExchange(t, plain[i], []byte("stats\r\n")), "\r\n") {
			if f := strings.SplitN(l, " ", 3); len(f) == 3 && f[0] == "STAT" {
				keys[i] = append(keys[i], f[1])
			}
		}
	}
	if !slices.Equal(keys[0], keys[1]) {
		t.Errorf("stats keys differ under TLS\nmemcached %v\ncachectl  %v", keys[0], keys[1])
	}
	wantSettings := []string{"ssl_enabled yes", "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256", "ssl_session_cache yes",
		"ssl_wbuf_size 4096", "ssl_min_version tlsv1.2", "ssl_kernel_tls no"}
	for i := range 2 {
		stats := authExchange(t, plain[i], []byte("stats\r\n"))
		lines := strings.Split(stats, "\r\n")
		// memcached counts a failed handshake only when it fails inside
		// accept, that is when the client's hello had already arrived:
		// 0 or 1 here, by timing. cachectl counts every failed handshake.
		if v := statValue(lines, "ssl_handshake_errors"); i == 1 && v != "1" {
			t.Errorf("%s: ssl_handshake_errors %q, want 1 (the refused cipher)", names[i], v)
		}
		if v, _ := strconv.Atoi(statValue(lines, "time_since_server_cert_refresh")); v > 2 {
			t.Errorf("%s: time_since_server_cert_refresh %d right after refresh_certs", names[i], v)
		}
		if v, _ := strconv.Atoi(statValue(lines, "ssl_new_sessions")); v < 2 {
			t.Errorf("%s: ssl_new_sessions %d after two completed handshakes", names[i], v)
		}
		settings := strings.Split(authExchange(t, plain[i], []byte("stats settings\r\n")), "\r\n")
		for _, want := range wantSettings {
			name, value, _ := strings.Cut(want, " ")
			if got := statValue(settings, name); got != value {
				t.Errorf("%s: stats settings %s = %q, want %q", names[i], name, got, value)
			}
		}
	}
	// A refresh that fails keeps the certificates in use and says why.
	good, err := os.ReadFile(p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.serverKey, []byte("not a key\n"), 0o600)
	for i := range 2 {
		got := authExchange(t, plain[i], []byte("refresh_certs\r\n"))
		if !strings.HasPrefix(got, "Error loading the key: "+p.serverKey+" : ") || !strings.HasSuffix(got, "\r\n") {
			t.Errorf("%s: refresh_certs with a broken key: %q", names[i], got)
		}
		if got := sClient(t, secure[i], "version\r\n", "-tls1_3"); got != "VERSION 1.6.18\r\n" {
			t.Errorf("%s: TLS after a failed refresh: %q", names[i], got)
		}
	}
	os.WriteFile(p.serverKey, good, 0o600)
}

// TestTLSMinVersionLikeMemcached: ssl_min_version=3 refuses TLS 1.2 in
// both servers.
func TestTLSMinVersionLikeMemcached(t *testing.T) {
	nstest.RequireCommands(t, "openssl")
	p := newTestPKI(t)
	plain, secure := tlsPair(t, "ssl_chain_cert="+p.serverCert+",ssl_key="+p.serverKey+",ssl_min_version=3")
	for i, name := range []string{"memcached", "cachectl"} {
		if got := sClient(t, secure[i], "version\r\n", "-tls1_2"); got != "" {
			t.Errorf("%s: TLS 1.2 served below ssl_min_version: %q", name, got)
		}
		if got := sClient(t, secure[i], "version\r\n", "-tls1_3"); got != "VERSION 1.6.18\r\n" {
			t.Errorf("%s: TLS 1.3: %q", name, got)
		}
		settings := strings.Split(authExchange(t, plain[i], []byte("stats settings\r\n")), "\r\n")
		if got := statValue(settings, "ssl_min_version"); got != "tlsv1.3" {
			t.Errorf("%s: stats settings ssl_min_version %q", name, got)
		}
	}
}

func TestRefreshCertsWithoutTLS(t *testing.T) {
	srv := serveTransport(t, Config{Listen: []string{"127.0.0.1"}, Port: freeLoopbackPort(t), MaxConns: 16, Threads: 1, FlushEnabled: true, Store: DefaultConfig().Store}, nil)
	addr := srv.Addrs()[0].String()
	// memcached's TLS build answers this, noreply or not.
	if got := authExchange(t, addr, []byte("refresh_certs\r\nrefresh_certs noreply\r\n")); got != "Error TLS not enabled\r\nError TLS not enabled\r\n" {
		t.Errorf("refresh_certs without TLS: %q", got)
	}
}

// TestTLSIdleConnectionHoldsNoBuffer: connections that sent a request and
// went quiet hold no input buffer. What remains per idle connection is
// crypto/tls's own state and the goroutine; the test logs it.
func TestTLSIdleConnectionHoldsNoBuffer(t *testing.T) {
	p := newTestPKI(t)
	srv, addr := serveTLS(t, p, VerifyNone)
	const n = 200
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]*tls.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if got := textRequest(t, c, "set k 0 0 5\r\nhello\r\nget k\r\n", "END"); len(got) != 4 {
			t.Fatalf("request on connection %d: %q", len(conns), got)
		}
	}
	// Each connection hands its buffer back only after writing the reply
	// its client has read: wait, bounded, for the last ones to park.
	var inUse int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		total, _, free := srv.readBufCounts(nil)
		if inUse = total - free/readBufferSize; inUse == 0 || time.Now().After(deadline) {
			break
		}
	}
	if inUse != 0 {
		t.Errorf("%d idle TLS connections hold %d input buffers, want 0", n, inUse)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Client and server share this process, so this is both ends' cost.
	t.Logf("heap per idle TLS connection, client and server together: %d bytes; stacks in use grew %d bytes per connection",
		(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, (int64(after.StackInuse)-int64(before.StackInuse))/n)
}

// TestTLSSessionResumptionLikeMemcached: with ssl_session_cache,
// ssl_new_sessions counts sessions negotiated in full; a client that
// resumes its session (memcached's t/ssl_session_resumption.t, TLS 1.2)
// adds none, in either server, whatever tickets the resumption renews.
func TestTLSSessionResumptionLikeMemcached(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	opts := "ssl_chain_cert=" + p.serverCert + ",ssl_key=" + p.serverKey + ",ssl_session_cache"
	plain, secure := tlsPair(t, opts)
	names := [2]string{"memcached", "cachectl"}
	sessions := func(i int) int {
		v, err := strconv.Atoi(statValue(strings.Split(authExchange(t, plain[i], []byte("stats\r\n")), "\r\n"), "ssl_new_sessions"))
		if err != nil {
			t.Fatalf("%s: ssl_new_sessions: %v", names[i], err)
		}
		return v
	}
	for _, tc := range []struct {
		name      string
		version   uint16
		noTickets bool
	}{
		{"TLS 1.2", tls.VersionTLS12, false},
		{"TLS 1.2 without tickets", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, false},
	} {
		var got [2][]int
		for i := range 2 {
			cfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", MaxVersion: tc.version,
				ClientSessionCache: tls.NewLRUClientSessionCache(1), SessionTicketsDisabled: tc.noTickets}
			got[i] = append(got[i], sessions(i))
			for range 3 {
				nc, err := tls.Dial("tcp", secure[i], cfg)
				if err != nil {
					t.Fatalf("%s: %v", names[i], err)
				}
				// A TLS 1.3 ticket arrives after the handshake: a
				// round trip reads it before the connection closes.
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := nc.Write([]byte("version\r\n")); err == nil {
					nc.Read(make([]byte, 64))
				}
				nc.Close()
				got[i] = append(got[i], sessions(i))
			}
		}
		// Counts carry over between cases: compare the steps.
		for i := range 2 {
			for j := len(got[i]) - 1; j > 0; j-- {
				got[i][j] -= got[i][j-1]
			}
			got[i] = got[i][1:]
		}
		t.Logf("%s: ssl_new_sessions added by each connection: memcached %v, cachectl %v", tc.name, got[0], got[1])
		if !slices.Equal(got[0], got[1]) {
			t.Errorf("%s: ssl_new_sessions added by each of three connections sharing a session cache: memcached %v, cachectl %v",
				tc.name, got[0], got[1])
		}
	}
}
