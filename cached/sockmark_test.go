package cached

import (
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
	"golang.org/x/sys/unix"
)

// TestSockCookieIDMarksSockets: -o sock_cookie_id puts the firewall mark
// on the listening TCP and UDP sockets, and accepted connections carry it,
// as memcached's do on Linux.
func TestSockCookieIDMarksSockets(t *testing.T) {
	nstest.RequireRoot(t) // SO_MARK needs CAP_NET_ADMIN
	srv, addr := startInProcess(t, func(c *Config) {
		c.SockCookieID = 77
		c.UDPPort = EphemeralPort
	})
	mark := func(c syscall.Conn) int {
		t.Helper()
		raw, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var m int
		var gerr error
		raw.Control(func(fd uintptr) { m, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK) })
		if gerr != nil {
			t.Fatal(gerr)
		}
		return m
	}
	if m := mark(srv.listeners[0].(syscall.Conn)); m != 77 {
		t.Errorf("TCP listener mark %d, want 77", m)
	}
	if m := mark(srv.udp[0]); m != 77 {
		t.Errorf("UDP socket mark %d, want 77", m)
	}
	// The accepted side, as the kernel's socket table shows it.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	textRequest(t, nc, "version\r\n", "")
	_, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("ss", "-tne", "state", "established", "( sport = :"+port+" )").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "fwmark:0x4d") {
		t.Errorf("the accepted connection carries no fwmark 0x4d:\n%s", out)
	}
}
