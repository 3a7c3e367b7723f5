package cached

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// ListenAddrs turns -l values and -p into host:port strings for
// net.Listen, as memcached parses them: a comma- or semicolon-separated
// list of host, host:port, [v6] or [v6]:port; an IPv6 address without
// brackets takes the default port. No -l means every address. A
// "notls:" prefix (see ListenSpecs) is dropped.
func ListenAddrs(listen []string, port int) ([]string, error) {
	specs, err := ListenSpecs(listen, port)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(specs))
	for i, sp := range specs {
		out[i] = sp.HostPort
	}
	return out, nil
}

// ListenSpec is one TCP listener asked for with -l.
type ListenSpec struct {
	HostPort string
	// NoTLS is memcached's "notls:" prefix: with -Z, this listener speaks
	// plain text (a health check or a trusted network beside TLS ones).
	NoTLS bool
}

// NoTLSPrefix marks a listener that stays plain when TLS is on.
const NoTLSPrefix = "notls"

// ListenSpecs is ListenAddrs with each listener's notls: flag.
func ListenSpecs(listen []string, port int) ([]ListenSpec, error) {
	var out []ListenSpec
	seen := map[string]bool{}
	add := func(sp ListenSpec) {
		if !seen[sp.HostPort] {
			seen[sp.HostPort] = true
			out = append(out, sp)
		}
	}
	if len(listen) == 0 {
		add(ListenSpec{HostPort: net.JoinHostPort("", strconv.Itoa(port))})
		return out, nil
	}
	for _, l := range listen {
		for _, item := range splitList(l) {
			// memcached skips the prefix and the one byte after it.
			noTLS := strings.HasPrefix(item, NoTLSPrefix)
			if noTLS {
				item = item[min(len(item), len(NoTLSPrefix)+1):]
				if item == "" {
					return nil, fmt.Errorf("-l %q: no address after %s:", l, NoTLSPrefix)
				}
			}
			host, p, err := splitListen(item, port)
			if err != nil {
				return nil, err
			}
			add(ListenSpec{HostPort: net.JoinHostPort(host, strconv.Itoa(p)), NoTLS: noTLS})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-l names no address")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' || s[i] == ';' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func splitListen(item string, defPort int) (string, int, error) {
	host, portStr := item, ""
	if item[0] == '[' {
		end := strings.IndexByte(item, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("-l %q: missing ']' after an IPv6 address", item)
		}
		host = item[1:end]
		rest := item[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", 0, fmt.Errorf("-l %q: expected ':PORT' after ']'", item)
			}
			portStr = rest[1:]
		}
	} else if i := strings.IndexByte(item, ':'); i >= 0 && strings.IndexByte(item[i+1:], ':') < 0 {
		host, portStr = item[:i], item[i+1:]
	}
	port := defPort
	if portStr != "" {
		p, err := strconv.Atoi(portStr)
		if err != nil || p < 0 || p > 65535 {
			return "", 0, fmt.Errorf("-l %q: %q is not a port number", item, portStr)
		}
		port = p
	}
	return host, port, nil
}

// Listen binds every configured address. Nothing is served until Serve.
// On any failure every socket opened so far is closed again.
func (s *Server) Listen() error {
	if s.cfg.UnixSocket != "" {
		// As memcached: a unix socket replaces TCP and UDP.
		ln, err := listenUnix(s.cfg.UnixSocket, s.cfg.UnixMask)
		if err != nil {
			return err
		}
		s.listeners = append(s.listeners, ln)
		s.zones = append(s.zones, "")
		s.totalConns.Add(1)
		s.listened = true
		return nil
	}
	if err := s.listenTCP(); err != nil {
		return err
	}
	if s.cfg.UDPPort != 0 {
		if err := s.listenUDP(); err != nil {
			s.closeListeners()
			return err
		}
	}
	if !s.HasListener() {
		// memcached 1.6.18 starts this way and runs until it is killed
		// (its own t/issue_67.t relies on it), so cachectl does too; but
		// a daemon nobody can reach is almost always a mistake in the
		// command line, so say so where the operator looks.
		s.log.Warn("no listener: the daemon serves nothing until it is stopped",
			"reason", "TCP is off (-p 0) and neither UDP (-U) nor a unix socket (-s) is on",
			"fix", "give -p PORT, -U PORT or -s PATH")
	}
	s.listened = true
	return nil
}

func (s *Server) listenTCP() error {
	if s.cfg.Port == 0 {
		return nil
	}
	specs, err := ListenSpecs(s.cfg.Listen, bindPort(s.cfg.Port))
	if err != nil {
		return err
	}
	for _, sp := range specs {
		a := sp.HostPort
		ln, err := net.Listen(listenNetwork("tcp", a), a)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("failed to listen on %s: %w", a, err)
		}
		s.markSocket(ln.(syscall.Conn), a)
		s.listeners = append(s.listeners, ln)
		s.listenTLS = append(s.listenTLS, !sp.NoTLS)
		s.zones = append(s.zones, listenZone(a))
		s.totalConns.Add(1) // memcached counts its listening sockets as connections
	}
	return nil
}

// HasListener reports whether Listen bound anything: TCP, UDP or a unix
// socket. It is false after -p 0 without -U or -s, as memcached allows.
func (s *Server) HasListener() bool { return len(s.listeners) > 0 || len(s.udp) > 0 }

// listenNetwork is the network to bind hostport on. Go binds a "tcp" or
// "udp" listener on 0.0.0.0 (and on ::) as one AF_INET6 socket that serves
// both families, so an operator who asked for IPv4 with -l 0.0.0.0 would
// also be reachable over IPv6. memcached binds exactly the family of the
// literal, and its AF_INET6 sockets are IPV6_V6ONLY, which Go's "tcp6" and
// "udp6" set too. A v4-mapped literal binds IPv4, as Go's "tcp" already
// did (memcached refuses it with EINVAL). No host (no -l) keeps the one
// dual-stack wildcard socket the README documents; a name is resolved by
// Go, as before.
func listenNetwork(base, hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return base
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return base
	}
	if a.Unmap().Is4() {
		return base + "4"
	}
	return base + "6"
}

// Addrs returns the bound listener addresses, link-local ones with the
// interface they were bound on as zone.
func (s *Server) Addrs() []netip.AddrPort {
	var out []netip.AddrPort
	for i, ln := range s.listeners {
		if ta, ok := ln.Addr().(*net.TCPAddr); ok {
			ap := ta.AddrPort()
			if a := ap.Addr(); a.Zone() == "" && a.IsLinkLocalUnicast() && i < len(s.zones) {
				ap = netip.AddrPortFrom(a.WithZone(s.zones[i]), ap.Port())
			}
			out = append(out, ap)
		}
	}
	return out
}

// listenZone is the %zone of a host:port listen address, or "".
func listenZone(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return ""
	}
	_, zone, _ := strings.Cut(host, "%")
	return zone
}

func (s *Server) closeListeners() {
	for _, ln := range s.listeners {
		ln.Close()
	}
	for _, pc := range s.udp {
		pc.Close()
	}
	for _, pc := range s.udpWorkers {
		pc.Close()
	}
}
