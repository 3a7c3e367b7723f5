package cached

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

func TestListenNetwork(t *testing.T) {
	tests := []struct {
		name, hostport, tcp, udp string
	}{
		{"no -l: one dual-stack wildcard", ":11211", "tcp", "udp"},
		{"IPv4 wildcard", "0.0.0.0:11211", "tcp4", "udp4"},
		{"IPv4 address", "10.0.0.1:11211", "tcp4", "udp4"},
		{"IPv4 loopback", "127.0.0.1:0", "tcp4", "udp4"},
		{"v4-mapped binds IPv4, as Go's tcp did", "[::ffff:10.0.0.1]:11211", "tcp4", "udp4"},
		{"IPv6 wildcard", "[::]:11211", "tcp6", "udp6"},
		{"IPv6 loopback", "[::1]:11211", "tcp6", "udp6"},
		{"IPv6 global", "[fd00::5]:11211", "tcp6", "udp6"},
		{"link-local with zone", "[fe80::1%eth0]:11211", "tcp6", "udp6"},
		{"link-local with numeric zone", "[fe80::1%2]:11211", "tcp6", "udp6"},
		{"host name: Go resolves it", "localhost:11211", "tcp", "udp"},
		{"not a host:port", "garbage", "tcp", "udp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listenNetwork("tcp", tt.hostport); got != tt.tcp {
				t.Errorf("listenNetwork(tcp, %q) = %q, want %q", tt.hostport, got, tt.tcp)
			}
			if got := listenNetwork("udp", tt.hostport); got != tt.udp {
				t.Errorf("listenNetwork(udp, %q) = %q, want %q", tt.hostport, got, tt.udp)
			}
		})
	}
}

// requireIPv6Loopback skips (fails under CI) where ::1 cannot be bound.
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		nstest.Unavailable(t, "needs IPv6 on loopback: %v", err)
		return
	}
	ln.Close()
}

// sockFamily is the socket's domain and, for AF_INET6, its IPV6_V6ONLY.
func sockFamily(t *testing.T, c syscall.Conn) (domain, v6only int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		if domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN); serr != nil || domain != unix.AF_INET6 {
			return
		}
		v6only, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return domain, v6only
}

// dialFails reports whether a TCP connect to addr is refused.
func dialFails(t *testing.T, network, addr string) bool {
	t.Helper()
	nc, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Logf("dial %s %s: %v", network, addr, err)
		}
		return true
	}
	nc.Close()
	return false
}

// udpRefused sends a datagram to addr from a connected socket and
// reports whether the kernel answered that nothing listens there.
func udpRefused(t *testing.T, network, addr string) bool {
	t.Helper()
	nc, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := append(make([]byte, udpHeaderSize), "version\r\n"...)
	req[5] = 1 // one datagram
	var last error
	for range 3 {
		if _, err := nc.Write(req); err != nil {
			last = err
			break
		}
		nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, last = nc.Read(make([]byte, 2048))
		if last == nil || errors.Is(last, syscall.ECONNREFUSED) {
			break
		}
	}
	return errors.Is(last, syscall.ECONNREFUSED)
}

// TestListenIPv4WildcardIsIPv4Only: -l 0.0.0.0 binds AF_INET sockets, as
// memcached does, rather than Go's dual-stack AF_INET6 one: IPv6 clients
// are refused, and stats conns shows tcp:0.0.0.0 and udp:0.0.0.0.
func TestListenIPv4WildcardIsIPv4Only(t *testing.T) {
	requireIPv6Loopback(t)
	cfg := DefaultConfig()
	cfg.Listen = []string{"0.0.0.0"}
	cfg.Port, cfg.UDPPort = EphemeralPort, EphemeralPort
	cfg.Threads = 2
	srv := serveConfig(t, cfg, nil)

	addrs, udp := srv.Addrs(), srv.UDPAddrs()
	if len(addrs) != 1 || addrs[0].Addr() != netip.IPv4Unspecified() || len(udp) != 1 || udp[0].Addr() != netip.IPv4Unspecified() {
		t.Fatalf("bound TCP %v, UDP %v; want 0.0.0.0 for each", addrs, udp)
	}
	if d, _ := sockFamily(t, srv.listeners[0].(*net.TCPListener)); d != unix.AF_INET {
		t.Errorf("TCP listener domain %d, want AF_INET (%d)", d, unix.AF_INET)
	}
	if d, _ := sockFamily(t, srv.udp[0]); d != unix.AF_INET {
		t.Errorf("UDP socket domain %d, want AF_INET (%d)", d, unix.AF_INET)
	}
	port, uport := strconv.Itoa(int(addrs[0].Port())), strconv.Itoa(int(udp[0].Port()))

	if !dialFails(t, "tcp6", net.JoinHostPort("::1", port)) {
		t.Errorf("an IPv6 client reached the -l 0.0.0.0 listener on [::1]:%s", port)
	}
	if !udpRefused(t, "udp6", net.JoinHostPort("::1", uport)) {
		t.Errorf("UDP on [::1]:%s was not refused; -l 0.0.0.0 must not serve IPv6", uport)
	}
	if udpRefused(t, "udp4", net.JoinHostPort("127.0.0.1", uport)) {
		t.Errorf("UDP on 127.0.0.1:%s refused", uport)
	}

	nc := dial(t, net.JoinHostPort("127.0.0.1", port))
	stats := strings.Join(textRequest(t, nc, "stats conns\r\n", "END"), "\n")
	for _, want := range []string{":addr tcp:0.0.0.0:" + port + "\n", ":addr udp:0.0.0.0:" + uport + "\n", ":listen_addr tcp:127.0.0.1:" + port + "\n"} {
		if !strings.Contains(stats+"\n", want) {
			t.Errorf("stats conns lacks %q:\n%s", strings.TrimSpace(want), stats)
		}
	}
	if strings.Contains(stats, "tcp6:") || strings.Contains(stats, "udp6:") {
		t.Errorf("stats conns shows an IPv6 socket for -l 0.0.0.0:\n%s", stats)
	}
}

// TestListenIPv6WildcardIsV6Only: -l :: binds IPV6_V6ONLY sockets, as
// memcached's are, so IPv4 clients are refused.
func TestListenIPv6WildcardIsV6Only(t *testing.T) {
	requireIPv6Loopback(t)
	cfg := DefaultConfig()
	cfg.Listen = []string{"::"}
	cfg.Port, cfg.UDPPort = EphemeralPort, EphemeralPort
	srv := serveConfig(t, cfg, nil)

	for _, c := range []syscall.Conn{srv.listeners[0].(*net.TCPListener), srv.udp[0]} {
		if d, only := sockFamily(t, c); d != unix.AF_INET6 || only != 1 {
			t.Errorf("socket domain %d, IPV6_V6ONLY %d; want AF_INET6 (%d), 1", d, only, unix.AF_INET6)
		}
	}
	port := strconv.Itoa(int(srv.Addrs()[0].Port()))
	uport := strconv.Itoa(int(srv.UDPAddrs()[0].Port()))
	if !dialFails(t, "tcp4", net.JoinHostPort("127.0.0.1", port)) {
		t.Errorf("an IPv4 client reached the -l :: listener on 127.0.0.1:%s", port)
	}
	if !udpRefused(t, "udp4", net.JoinHostPort("127.0.0.1", uport)) {
		t.Errorf("UDP on 127.0.0.1:%s was not refused; -l :: must not serve IPv4", uport)
	}
	nc := dial(t, net.JoinHostPort("::1", port))
	stats := strings.Join(textRequest(t, nc, "stats conns\r\n", "END"), "\n")
	if !strings.Contains(stats, ":addr tcp6:[::]:"+port) || !strings.Contains(stats, ":addr udp6:[::]:"+uport) {
		t.Errorf("stats conns lacks tcp6:[::]:%s or udp6:[::]:%s:\n%s", port, uport, stats)
	}
}

// TestListenBothWildcardsOnOnePort: -l 0.0.0.0,[::] is one socket per
// family on the same port, as in memcached. While 0.0.0.0 took Go's
// dual-stack socket the second bind failed with "address already in use".
func TestListenBothWildcardsOnOnePort(t *testing.T) {
	requireIPv6Loopback(t)
	cfg := DefaultConfig()
	cfg.Listen = []string{"0.0.0.0,[::]"}
	cfg.Port = freePort(t)
	cfg.UDPPort = cfg.Port
	srv := serveConfig(t, cfg, nil)
	if got := fmt.Sprint(srv.Addrs(), srv.UDPAddrs()); got != fmt.Sprintf("[0.0.0.0:%d [::]:%d] [0.0.0.0:%d [::]:%d]", cfg.Port, cfg.Port, cfg.Port, cfg.Port) {
		t.Fatalf("bound %s", got)
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		nc := dial(t, net.JoinHostPort(host, strconv.Itoa(cfg.Port)))
		if got := textRequest(t, nc, "version\r\n", ""); len(got) != 1 || !strings.HasPrefix(got[0], "VERSION ") {
			t.Errorf("%s answered %q", host, got)
		}
	}
}

// TestListenNothingWithPortZero: -p 0 without -U or -s starts, as
// memcached 1.6.18 does, with no listener; it warns, serves nothing and
// stops when told to.
func TestListenNothingWithPortZero(t *testing.T) {
	var log strings.Builder
	cfg := DefaultConfig()
	cfg.Port, cfg.UDPPort = 0, 0
	cfg.Listen = []string{"127.0.0.1:11211"} // memcached ignores -l's port too with -p 0
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		srv.store.Close()
		t.Fatalf("Listen with -p 0: %v; memcached starts", err)
	}
	if srv.HasListener() || len(srv.Addrs()) != 0 || len(srv.UDPAddrs()) != 0 {
		t.Errorf("bound TCP %v, UDP %v; want nothing", srv.Addrs(), srv.UDPAddrs())
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "no listener") || !strings.Contains(log.String(), "-p PORT, -U PORT or -s PATH") {
		t.Errorf("no warning that the daemon serves nothing:\n%s", log.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Serve returned at once with no listener: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve with no listener did not stop within 10s")
	}
}

// TestServeBeforeListen: Serve still refuses a server nobody bound.
func TestServeBeforeListen(t *testing.T) {
	srv := testServer(t, nil)
	if err := srv.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "before Listen") {
		t.Errorf("Serve before Listen: %v", err)
	}
}
