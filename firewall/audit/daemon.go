package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DaemonConn is one connection as the daemon lists it in "stats conns".
type DaemonConn struct {
	FD     int            `json:"fd"`
	Proto  string         `json:"proto"`  // tcp, tcp6, udp, udp6, unix
	Peer   netip.AddrPort `json:"peer"`   // the "addr" line: the remote end, or the socket itself when listening
	Listen netip.AddrPort `json:"listen"` // the "listen_addr" line: the local end of a client connection
	State  string         `json:"state"`  // conn_listening, conn_parse_cmd, ...
}

// Client reports whether c is a TCP client connection, not a listening or
// UDP socket.
func (c DaemonConn) Client() bool {
	return c.State != "conn_listening" && strings.HasPrefix(c.Proto, "tcp") && c.Peer.IsValid()
}

// ErrStatsConns is wrapped by errors in a "stats conns" reply.
var ErrStatsConns = errors.New("bad stats conns reply")

// ParseConns reads a "stats conns" reply up to and including END.
func ParseConns(r io.Reader) ([]DaemonConn, error) {
	sc := bufio.NewScanner(r)
	byFD := map[int]*DaemonConn{}
	var order []int
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "END" {
			out := make([]DaemonConn, 0, len(order))
			for _, fd := range order {
				out = append(out, *byFD[fd])
			}
			return out, nil
		}
		fd, key, val, err := splitStat(line)
		if err != nil {
			return nil, err
		}
		c := byFD[fd]
		if c == nil {
			c = &DaemonConn{FD: fd}
			byFD[fd] = c
			order = append(order, fd)
		}
		if err := c.set(key, val); err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrStatsConns, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading stats conns: %w", err)
	}
	return nil, fmt.Errorf("%w: reply ended before END", ErrStatsConns)
}

// splitStat splits "STAT 27:addr tcp:10.0.0.1:5" into 27, "addr", "tcp:10.0.0.1:5".
func splitStat(line string) (fd int, key, val string, err error) {
	rest, ok := strings.CutPrefix(line, "STAT ")
	if !ok {
		return 0, "", "", fmt.Errorf("%w: %q is not a STAT line (is this a memcached-compatible daemon?)", ErrStatsConns, line)
	}
	name, val, ok := strings.Cut(rest, " ")
	fdText, key, ok2 := strings.Cut(name, ":")
	if !ok || !ok2 {
		return 0, "", "", fmt.Errorf("%w: %q: want STAT FD:KEY VALUE", ErrStatsConns, line)
	}
	fd, err = strconv.Atoi(fdText)
	if err != nil {
		return 0, "", "", fmt.Errorf("%w: %q: bad fd: %w", ErrStatsConns, line, err)
	}
	return fd, key, val, nil
}

func (c *DaemonConn) set(key, val string) error {
	var err error
	switch key {
	case "addr":
		c.Proto, c.Peer, err = parseSockAddr(val)
	case "listen_addr":
		_, c.Listen, err = parseSockAddr(val)
	case "state":
		c.State = val
	}
	return err
}

// parseSockAddr parses memcached's "tcp:10.0.0.1:5", "tcp6:[fd00::1]:5",
// "udp:..." or "unix:/path" (a unix socket has no AddrPort).
func parseSockAddr(s string) (string, netip.AddrPort, error) {
	proto, addr, ok := strings.Cut(s, ":")
	if !ok {
		return "", netip.AddrPort{}, fmt.Errorf("address %q has no protocol prefix", s)
	}
	if proto == "unix" {
		return proto, netip.AddrPort{}, nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("address %q: %w", s, err)
	}
	return proto, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// QueryConns asks the daemon at addr for "stats conns" and returns its
// connections without the one this query used.
func QueryConns(ctx context.Context, addr netip.AddrPort, timeout time.Duration) ([]DaemonConn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("connecting to daemon %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, "stats conns\r\n"); err != nil {
		return nil, fmt.Errorf("asking daemon %s for stats conns: %w", addr, err)
	}
	conns, err := ParseConns(conn)
	if err != nil {
		return nil, fmt.Errorf("daemon %s: %w", addr, err)
	}
	self, _ := netip.ParseAddrPort(conn.LocalAddr().String())
	self = netip.AddrPortFrom(self.Addr().Unmap(), self.Port())
	out := conns[:0]
	for _, c := range conns {
		if c.Peer != self {
			out = append(out, c)
		}
	}
	return out, nil
}
