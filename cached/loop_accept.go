package cached

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"github.com/cachectl/cachectl/cached/protocol"
	"golang.org/x/sys/unix"
)

// Plain TCP listeners accept with accept4(2) on the listener's descriptor
// rather than through net.Listener.Accept. A loop connection only needs
// its descriptor and its peer's address. Accept also registered the
// socket with the runtime's poller, asked for its local address, and
// built a net.Conn with two address objects, all of which adopt then
// threw away with a dup and two closes: five system calls and about half
// a kilobyte of garbage per connection, which ten thousand clients
// connecting at once turned into megabytes of heap.

// acceptSockets accepts on a plain TCP listener until the server stops.
// It waits in poll(2) on its own duplicate of the listener's descriptor
// and on the stop eventfd, as a detached connection waits: a listener's
// RawConn cannot wait in the runtime's poller (its Read is refused), and
// the duplicate keeps the descriptor number from being reused under the
// wait once the listener closes.
func (s *Server) acceptSockets(ln *net.TCPListener) error {
	lfd, err := dupFD(ln, 0)
	if err != nil {
		return fmt.Errorf("accepting on %s: %w", ln.Addr(), err)
	}
	defer unix.Close(lfd)
	if err := inheritedOptions(lfd); err != nil {
		return fmt.Errorf("accepting on %s: %w", ln.Addr(), err)
	}
	local := localNames{listener: ln.Addr().(*net.TCPAddr).AddrPort()}
	fds := [2]unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}, {Fd: int32(s.stopFD), Events: unix.POLLIN}}
	var delay time.Duration
	for {
		var sa unix.RawSockaddrAny
		fd, err := accept4(lfd, &sa)
		if err == unix.EAGAIN {
			if _, err = unix.Poll(fds[:], -1); err == nil && fds[1].Revents != 0 {
				return nil
			}
			if err == nil || err == unix.EINTR {
				continue
			}
		}
		switch {
		case err == unix.EINTR, err == unix.ECONNABORTED:
			continue
		case err != nil && s.acceptEnded(err):
			return nil
		case err != nil:
			delay = s.acceptBackoff(ln.Addr(), os.NewSyscallError("accept4", err), delay)
			continue
		}
		delay = 0
		s.acceptFD(fd, sockaddrAddrPort(&sa), &local)
	}
}

// inheritedOptions sets on the listener what every accepted socket then
// inherits, as memcached sets them on its listening socket: TCP_NODELAY,
// without which a reply written in two parts waits for the client's
// delayed ACK (40 ms) whenever the first is still unacknowledged, as it is
// under pipelining; and SO_KEEPALIVE, so a vanished client is found. A
// net.Conn gets both from Go's Accept; accept4 gets them from here.
func inheritedOptions(lfd int) error {
	for _, o := range []struct {
		level, name int
		what        string
	}{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, "TCP_NODELAY"},
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE"},
	} {
		if err := unix.SetsockoptInt(lfd, o.level, o.name, 1); err != nil {
			return fmt.Errorf("setting %s: %w", o.what, os.NewSyscallError("setsockopt", err))
		}
	}
	return nil
}

// acceptFD serves a socket accept4 returned, as accept serves a net.Conn.
func (s *Server) acceptFD(fd int, ap netip.AddrPort, local *localNames) {
	s.totalConns.Add(1)
	if s.denies(ap.Addr().Unmap()) {
		s.log.Warn("connection denied by policy", "peer", ap.Addr().Unmap(), "local", local.addr(fd))
		s.logConn(protocol.EventConnClose, fd, ap, protocol.ReasonDenied)
		unix.Close(fd)
		return
	}
	if s.full() {
		unix.Write(fd, tooManyConns)
		unix.Close(fd)
		return
	}
	c := newConn(s, nil)
	c.fd, c.id = fd, fd
	c.rw = socketIO{c}
	c.peerPort = ap
	c.local = local.name(fd)
	c.lastCmd.Store(s.store.Now())
	c.loop = s.pickLoop()
	s.register(c)
}

// localNames renders the local address of a listener's connections. On
// a listener bound to one address that is the listener's; on a wildcard
// one it is the address the client reached, one of the host's few, so
// the last one's text is kept for the next. A link-local listener asks
// the socket too: the listener's address lacks the interface.
type localNames struct {
	listener netip.AddrPort
	last     netip.AddrPort
	text     string
}

// addr is the local address of the connection on fd.
func (l *localNames) addr(fd int) netip.AddrPort {
	if a := l.listener.Addr(); !a.IsUnspecified() && !a.IsLinkLocalUnicast() {
		return l.listener
	}
	var sa unix.RawSockaddrAny
	n := uint32(unsafe.Sizeof(sa))
	if _, _, errno := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n))); errno != 0 {
		return l.listener
	}
	return sockaddrAddrPort(&sa)
}

// name is the local address of the connection on fd as stats conns
// shows it.
func (l *localNames) name(fd int) string {
	ap := l.addr(fd)
	if ap != l.last || l.text == "" {
		l.last, l.text = ap, tcpAddrText(ap)
	}
	return l.text
}

// tcpAddrText renders a TCP address as memcached's stats conns does.
func tcpAddrText(ap netip.AddrPort) string {
	if a := ap.Addr().Unmap(); a.Is4() {
		return fmt.Sprintf("tcp:%s:%d", a, ap.Port())
	}
	return fmt.Sprintf("tcp6:[%s]:%d", ap.Addr(), ap.Port())
}

// accept4 accepts a connection on a non-blocking listener, non-blocking
// and close-on-exec itself. The call cannot block, so it skips the
// scheduler's system call bookkeeping.
func accept4(lfd int, sa *unix.RawSockaddrAny) (int, error) {
	n := uint32(unsafe.Sizeof(*sa))
	fd, _, errno := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&n)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// sockaddrAddrPort reads an IPv4 or IPv6 socket address as the net
// package would: an IPv6 link-local address keeps its interface as zone.
func sockaddrAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), netPort(in.Port))
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		a := netip.AddrFrom16(in.Addr)
		if in.Scope_id != 0 {
			if ifi, err := net.InterfaceByIndex(int(in.Scope_id)); err == nil {
				a = a.WithZone(ifi.Name)
			}
		}
		return netip.AddrPortFrom(a, netPort(in.Port))
	}
	return netip.AddrPort{}
}

// netPort converts a port in network byte order.
func netPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
