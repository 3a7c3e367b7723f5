package cached

import (
	"net"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSockaddrAddrPort(t *testing.T) {
	var v4, v6, mapped unix.RawSockaddrAny
	in4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&v4))
	in4.Family, in4.Port, in4.Addr = unix.AF_INET, netOrder(11211), [4]byte{10, 0, 0, 7}
	in6 := (*unix.RawSockaddrInet6)(unsafe.Pointer(&v6))
	in6.Family, in6.Port, in6.Addr = unix.AF_INET6, netOrder(54321), netip.MustParseAddr("2001:db8::1").As16()
	inm := (*unix.RawSockaddrInet6)(unsafe.Pointer(&mapped))
	inm.Family, inm.Port, inm.Addr = unix.AF_INET6, netOrder(40000), netip.MustParseAddr("::ffff:192.0.2.9").As16()
	for _, tc := range []struct {
		name string
		sa   *unix.RawSockaddrAny
		want netip.AddrPort
		text string
	}{
		{"ipv4", &v4, netip.MustParseAddrPort("10.0.0.7:11211"), "tcp:10.0.0.7:11211"},
		{"ipv6", &v6, netip.MustParseAddrPort("[2001:db8::1]:54321"), "tcp6:[2001:db8::1]:54321"},
		{"ipv4 on a dual-stack listener", &mapped, netip.MustParseAddrPort("[::ffff:192.0.2.9]:40000"), "tcp:192.0.2.9:40000"},
		{"unknown family", &unix.RawSockaddrAny{}, netip.AddrPort{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sockaddrAddrPort(tc.sa)
			if got != tc.want {
				t.Fatalf("sockaddrAddrPort = %v, want %v", got, tc.want)
			}
			if tc.text == "" {
				return
			}
			if text := tcpAddrText(got); text != tc.text {
				t.Errorf("tcpAddrText = %q, want %q", text, tc.text)
			}
			// The same text as a net.Conn's address gives.
			if text := connAddr(net.TCPAddrFromAddrPort(got)); text != tc.text {
				t.Errorf("connAddr = %q, want %q", text, tc.text)
			}
		})
	}
}

// netOrder puts a port in network byte order, as the kernel fills it in.
func netOrder(p uint16) uint16 {
	var b [2]byte
	b[0], b[1] = byte(p>>8), byte(p)
	return *(*uint16)(unsafe.Pointer(&b))
}

// TestAcceptedSocketOptions: sockets accept4 returns carry TCP_NODELAY and
// SO_KEEPALIVE from the listener, as a net.Conn from Go's Accept does.
// Without TCP_NODELAY a pipelined client's replies stalled on its delayed
// ACKs: a bulk load ran at 9,000 sets a second instead of 450,000.
func TestAcceptedSocketOptions(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lfd, err := dupFD(ln, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := inheritedOptions(lfd); err != nil {
		t.Fatal(err)
	}
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	fds := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
	if _, err := unix.Poll(fds, 5000); err != nil {
		t.Fatal(err)
	}
	var sa unix.RawSockaddrAny
	fd, err := accept4(lfd, &sa)
	if err != nil {
		t.Fatalf("accept4: %v", err)
	}
	defer unix.Close(fd)
	for _, o := range []struct {
		level, name int
		what        string
	}{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, "TCP_NODELAY"},
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE"},
	} {
		if v, err := unix.GetsockoptInt(fd, o.level, o.name); err != nil || v == 0 {
			t.Errorf("accepted socket: %s = %d, %v; want it set", o.what, v, err)
		}
	}
}
