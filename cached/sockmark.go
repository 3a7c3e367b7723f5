package cached

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// markSocket sets -o sock_cookie_id on a listening TCP or UDP socket as
// memcached's server_socket does on Linux: SO_MARK, the firewall mark
// that iptables (-m mark) and policy routing (ip rule fwmark) match.
// Accepted TCP sockets inherit it from the listener. Setting a mark needs
// CAP_NET_ADMIN; without it memcached prints the error and serves
// unmarked, and so does this daemon.
func (s *Server) markSocket(c syscall.Conn, addr string) {
	if s.cfg.SockCookieID == 0 {
		return
	}
	raw, err := c.SyscallConn()
	if err == nil {
		ctlErr := raw.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(s.cfg.SockCookieID))
		})
		if err == nil {
			err = ctlErr
		}
	}
	if err != nil {
		s.log.Warn("sock_cookie_id: the socket serves unmarked", "addr", addr, "mark", s.cfg.SockCookieID,
			"err", os.NewSyscallError("setsockopt SO_MARK", err))
	}
}
