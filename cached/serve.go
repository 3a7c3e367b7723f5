package cached

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/cachectl/cachectl/cached/protocol"
	"golang.org/x/sys/unix"
)

// Serving: accepting connections, handing each to a worker loop (plain
// sockets) or a goroutine (TLS), and shutting down.

// Serve accepts connections until ctx ends or a client runs `shutdown`
// (with -A), then stops accepting, lets connections finish the replies
// they are working on, and returns.
func (s *Server) Serve(ctx context.Context) error {
	// Listen may have bound nothing (-p 0 alone, as memcached allows):
	// Serve then only waits to be stopped.
	if !s.listened {
		return errors.New("Serve called before Listen")
	}
	if len(s.listeners) > 0 {
		if err := s.startLoops(); err != nil {
			s.closeListeners()
			return err
		}
	}
	for _, pc := range s.udp {
		s.serveUDP(pc)
	}
	errc := make(chan error, len(s.listeners))
	for i, ln := range s.listeners {
		useTLS := s.tls != nil && i < len(s.listenTLS) && s.listenTLS[i]
		s.acceptWG.Add(1)
		go func() {
			defer s.acceptWG.Done()
			errc <- s.acceptLoop(ln, useTLS)
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case <-s.shutdown:
	case err = <-errc:
	}
	s.stop()
	return err
}

// requestShutdown is the `shutdown` command.
func (s *Server) requestShutdown() { s.once.Do(func() { close(s.shutdown) }) }

// stop closes the listeners, then interrupts reads so each connection ends
// after flushing what it already answered, and waits for them.
func (s *Server) stop() {
	s.mu.Lock()
	s.closing = true
	s.closeListeners()
	s.stopLoops()
	for c := range s.conns {
		if c.fd < 0 && c.nc != nil {
			c.nc.SetReadDeadline(time.Now())
		}
	}
	s.mu.Unlock()
	// A connection accepted just before its listener closed is still being
	// handed to a worker loop: wait for that hand-over (it sees closing and
	// lets the connection go) before the loops are torn down under it.
	s.acceptWG.Wait()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.log.Warn("connections still busy after 10s; closing them")
		s.mu.Lock()
		for c := range s.conns {
			c.kill()
		}
		s.mu.Unlock()
		<-done
	}
	s.closeLoops()
	s.logs.stop()
	s.store.Close()
}

func (s *Server) acceptLoop(ln net.Listener, useTLS bool) error {
	if tl, ok := ln.(*net.TCPListener); ok && !useTLS {
		return s.acceptSockets(tl)
	}
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.acceptEnded(err) {
				return nil
			}
			delay = s.acceptBackoff(ln.Addr(), err, delay)
			continue
		}
		delay = 0
		s.accept(nc, useTLS)
	}
}

// acceptEnded reports whether an accept error means the listener closed.
func (s *Server) acceptEnded(err error) bool {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	return closing || errors.Is(err, net.ErrClosed)
}

// acceptBackoff waits after a failed accept (out of file descriptors and
// the like) and keeps serving: each failure in a row doubles the wait.
func (s *Server) acceptBackoff(addr net.Addr, err error, delay time.Duration) time.Duration {
	delay = min(max(2*delay, 5*time.Millisecond), time.Second)
	s.log.Error("accept failed", "listener", addr, "err", err, "retry_in", delay)
	time.Sleep(delay)
	return delay
}

// denies reports whether the allowlist refuses peer, and counts it.
func (s *Server) denies(peer netip.Addr) bool {
	f := s.filter.Load()
	if f == nil || !peer.IsValid() {
		return false
	}
	if _, allowed := (*f)(peer); allowed {
		return false
	}
	s.countDenied(peer)
	return true
}

// full reports whether the server is at -c, and counts the refusal:
// memcached's maxconns_fast answer is to say why, then hang up.
func (s *Server) full() bool {
	if s.currConns.Load() < int64(s.cfg.MaxConns) {
		return false
	}
	s.rejected.Add(1)
	return true
}

var tooManyConns = []byte(protocol.ReplyTooManyConns + "\r\n")

func (s *Server) accept(nc net.Conn, useTLS bool) {
	s.totalConns.Add(1)
	ap, _ := peerPort(nc)
	if s.denies(ap.Addr().Unmap()) {
		s.log.Warn("connection denied by policy", "peer", ap.Addr().Unmap(), "local", nc.LocalAddr())
		s.logConn(protocol.EventConnClose, socketFD(nc), ap, protocol.ReasonDenied)
		nc.Close()
		return
	}
	if s.full() {
		nc.Write(tooManyConns)
		nc.Close()
		return
	}
	var c *conn
	if !useTLS {
		var err error
		if c, err = s.adopt(nc); err != nil {
			s.log.Error("cannot serve connection", "peer", nc.RemoteAddr(), "err", err)
			return
		}
		c.loop = s.pickLoop()
	} else {
		id := socketFD(nc)
		nc = tls.Server(nc, s.tls.front)
		rw := tlsIO{Reader: nc, tlsWriter: tlsWriter{nc: nc, wbuf: s.tls.cfg.WBufSize}}
		if s.cfg.IdleTimeout > 0 {
			rw.Reader = &idleReader{nc: nc, timeout: s.cfg.IdleTimeout}
		}
		c = newConn(s, rw)
		c.nc = nc
		c.id = id
		c.local = connAddr(nc.LocalAddr())
	}
	c.peerPort = ap
	s.register(c)
}

// register books an accepted connection and starts serving it: on its
// worker loop, or on a goroutine of its own (TLS).
func (s *Server) register(c *conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.close()
		return
	}
	s.conns[c] = struct{}{}
	s.currConns.Add(1)
	s.wg.Add(1)
	s.mu.Unlock()
	s.logConn(protocol.EventConnNew, c.id, c.peerPort, 0)
	if s.verbosity.Load() > 0 {
		s.log.Info("new client connection", "conn", c.id, "peer", c.remoteName())
	}
	if c.fd < 0 {
		go s.run(c)
		return
	}
	if err := c.loop.add(c); err != nil {
		s.finish(c, err)
	}
}

// run serves a TLS connection on a goroutine of its own.
func (s *Server) run(c *conn) {
	err := s.handshake(c, c.nc.(*tls.Conn))
	if err == nil {
		err = c.serve()
	}
	if c.watcher != nil && errors.Is(err, errClose) {
		s.startWatching(c)
		return
	}
	s.finish(c, err)
}

// close releases a connection's socket and buffers.
func (c *conn) close() {
	if c.fd >= 0 {
		unix.Close(c.fd)
	} else {
		c.nc.Close()
	}
	c.releaseInput()
	c.releaseWork()
}

// finish ends a registered connection: closes it, drops it from the
// server's books and logs why it ended.
func (s *Server) finish(c *conn, err error) {
	defer s.wg.Done()
	// Off the books first, so nothing (SetPeerFilter, stop) touches the
	// descriptor once its number may be reused.
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	// Counted before the close, so a client that sees it sees the counts.
	if errors.Is(err, errIdle) {
		s.idleKicks.Add(1)
	}
	s.currConns.Add(-1)
	if c.watcher != nil {
		s.logs.remove(c.watcher)
	}
	s.logConn(protocol.EventConnClose, c.id, c.peerPort, closeReason(c, err))
	c.close()
	switch {
	case err == nil, errors.Is(err, errClose), errors.Is(err, errIdle), errors.Is(err, io.EOF), isTimeout(err), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		if s.verbosity.Load() > 0 {
			s.log.Info("connection closed", "conn", c.id, "peer", c.remoteName())
		}
	default:
		s.log.Error("connection failed", "conn", c.id, "peer", c.remoteName(), "err", err)
	}
}
