package cached

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
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
	if len(s.listeners) == 0 && len(s.udp) == 0 {
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
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Error("accept failed", "listener", ln.Addr(), "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.accept(nc, useTLS)
	}
}

func (s *Server) accept(nc net.Conn, useTLS bool) {
	s.totalConns.Add(1)
	ap, _ := peerPort(nc)
	peer := ap.Addr().Unmap()
	if f := s.filter.Load(); f != nil && peer.IsValid() {
		if _, allowed := (*f)(peer); !allowed {
			s.countDenied(peer)
			s.log.Warn("connection denied by policy", "peer", peer, "local", nc.LocalAddr())
			s.logConn(protocol.EventConnClose, socketFD(nc), ap, protocol.ReasonDenied)
			nc.Close()
			return
		}
	}
	if s.currConns.Load() >= int64(s.cfg.MaxConns) {
		// memcached's maxconns_fast answer: say why, then hang up.
		s.rejected.Add(1)
		nc.Write([]byte(protocol.ReplyTooManyConns + "\r\n"))
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
		c = newConn(s, nc)
		c.nc = nc
		c.wr = tlsWriter{nc: nc, wbuf: s.tls.cfg.WBufSize}
		c.id = id
		c.remote = connAddr(nc.RemoteAddr())
		c.local = connAddr(nc.LocalAddr())
		if s.cfg.IdleTimeout > 0 {
			c.rd = &idleReader{nc: nc, timeout: s.cfg.IdleTimeout}
		}
	}
	c.peerPort = ap
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
		s.log.Info("new client connection", "conn", c.id, "peer", c.remote)
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
			s.log.Info("connection closed", "conn", c.id, "peer", c.remote)
		}
	default:
		s.log.Error("connection failed", "conn", c.id, "peer", c.remote, "err", err)
	}
}
