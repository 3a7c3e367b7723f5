package cached

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cachectl/cachectl/cached/protocol"
)

// The watch command: the connection stops taking commands and receives
// the log streams it asked for until it hangs up (logger.go).

// watcher is a connection receiving log lines.
type watcher struct {
	flags  protocol.LogFlags
	minGID uint64 // lines recorded before the watch began are not sent
	c      *conn
	nc     net.Conn

	mu      sync.Mutex
	buf     []byte
	cap     int
	skipped uint64
	wake    chan struct{}
}

// watch is `watch [stream...]`.
func (c *conn) watch(toks [][]byte, _ []byte) error {
	noreply := string(toks[len(toks)-1]) == "noreply"
	switch {
	case c.srv.cfg.WatchDisabled:
		return c.refuse(noreply, &protocol.Error{Reply: protocol.ReplyWatchDisabled})
	case c.workBufs != nil && c.workBufs.pipelined:
		return c.refuse(noreply, &protocol.Error{Reply: protocol.ReplyWatchPipelined})
	case c.socketless():
		// A UDP request has no connection to stream to.
		return c.refuse(noreply, &protocol.Error{Reply: protocol.ReplyWatchFailed})
	}
	flags, err := protocol.ParseWatch(toks)
	if err != nil {
		return c.refuse(noreply, err)
	}
	// Registered now, so nothing that happens once the client reads the
	// OK is missed; the OK leads the watcher's buffer, as in memcached,
	// and is sent with the first lines once the connection is handed over.
	w := &watcher{flags: flags, c: c, cap: c.srv.logs.watcherBuf, wake: make(chan struct{}, 1),
		buf: []byte(protocol.ReplyOK + "\r\n")}
	if !c.srv.logs.add(w) {
		return c.refuse(noreply, &protocol.Error{Reply: protocol.ReplyWatchTooMany})
	}
	c.watcher = w
	c.closing = true
	return nil
}

// startWatching hands a connection that ran `watch` to the logger. A
// loop connection's socket moves back to Go's poller: the watcher's
// goroutines block on it, the loop never sees it again.
func (s *Server) startWatching(c *conn) {
	w := c.watcher
	if c.fd >= 0 {
		nc, err := fdConn(c.fd)
		if err != nil {
			s.logs.remove(w)
			s.finish(c, err)
			return
		}
		unix.Close(c.fd)
		c.fd, c.nc = -1, nc
	}
	w.nc = c.nc
	c.releaseInput()
	c.releaseWork()
	c.setState(stateWatch)
	select { // the OK, and whatever was recorded since
	case w.wake <- struct{}{}:
	default:
	}
	done := make(chan struct{})
	go w.write(done)
	go s.watchReader(w, done)
}

// fdConn wraps a duplicate of a socket descriptor as a net.Conn.
func fdConn(fd int) (net.Conn, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, os.NewSyscallError("dup", err)
	}
	f := os.NewFile(uintptr(dup), "watcher")
	defer f.Close()
	return net.FileConn(f)
}

// watchReader waits for the watcher to hang up (what it sends is
// ignored, as memcached ignores it), then retires it.
func (s *Server) watchReader(w *watcher, done chan struct{}) {
	var buf [64]byte
	var err error
	for err == nil {
		_, err = w.nc.Read(buf[:])
	}
	s.logs.remove(w)
	close(done)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil // the server is stopping
	}
	s.finish(w.c, err)
}

// offer queues a line; false when the buffer is full and it is skipped.
func (w *watcher) offer(line []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf)+len(line)+watcherSlack > w.cap {
		w.skipped++
		return false
	}
	if w.skipped > 0 {
		w.buf = append(w.buf, "skipped="...)
		w.buf = strconv.AppendUint(w.buf, w.skipped, 10)
		w.buf = append(w.buf, '\n')
		w.skipped = 0
	}
	w.buf = append(w.buf, line...)
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// write sends queued lines until the watcher is retired.
func (w *watcher) write(done chan struct{}) {
	var out []byte
	for {
		select {
		case <-w.wake:
		case <-done:
			return
		}
		w.mu.Lock()
		out, w.buf = w.buf, out[:0]
		w.mu.Unlock()
		n, err := w.nc.Write(out)
		w.c.srv.offLoop().bytesWritten.Add(uint64(n))
		if err != nil {
			w.nc.Close() // the reader sees it and retires the watcher
			return
		}
	}
}
