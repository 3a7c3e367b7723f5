package cached

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync/atomic"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/store"
)

// Connection buffers. A request line is parsed in place in the input
// buffer; replies accumulate in the output buffer and are written when the
// input runs dry, so a pipeline of requests costs one write.
const (
	readBufferSize = 16 << 10
	// flushThreshold sends replies early when a pipeline produces a lot.
	flushThreshold = 64 << 10
	// keepBuffer is the largest buffer a connection keeps between
	// requests; larger ones, grown for one big reply, are dropped.
	keepBuffer = 256 << 10
)

// Connection states, kept as small integers so recording one per request
// costs an atomic store and no allocation.
type connState uint32

const (
	stateNewCmd connState = iota
	stateRead
	stateParseCmd
	stateNread
	stateSwallow
	stateWrite
	stateWatch
)

// String is the name `stats conns` reports, as memcached names it.
func (s connState) String() string {
	return [...]string{"conn_new_cmd", "conn_read", "conn_parse_cmd", "conn_nread", "conn_swallow", "conn_mwrite", "conn_watch"}[s]
}

// errClose ends a connection without an error worth logging (quit, garbage).
var errClose = protocol.ErrClose

// conn is one client connection: its buffers and protocol state. Ten
// thousand idle connections cost ten thousand of these, so the fields of a
// byte or four are grouped at the end, where they pack without padding.
type conn struct {
	srv *Server
	nc  net.Conn // nil in tests that drive the protocol over plain readers
	rw  io.ReadWriter

	id    int    // the socket's file descriptor, as memcached reports it
	local string // "tcp:1.2.3.4:11211" as in stats conns, shared by a listener's connections

	in   []byte
	r, w int
	out  []byte
	// The work buffers are held only while a request runs, and carry
	// what only a running request needs (the value scratch buffer, the
	// data block's segments, the binary request), so an idle connection
	// does not: c.scratch, c.segs and c.binReq are theirs.
	*workBufs

	// Plain sockets are served by a worker loop (loop.go); TLS and
	// in-memory connections by a goroutine of their own.
	fd   int
	loop *eventLoop
	// peerPort is the client's address and port, invalid on a unix
	// socket: the allowlist judges its address, log lines show both.
	peerPort netip.AddrPort

	// watcher: the connection ran `watch` and is handed to the logger
	// once its requests are done.
	watcher *watcher
	auth    connAuth

	// tokens is the work buffers' token array while a request runs: at
	// 576 bytes it was over half of an idle connection's struct.
	tokens *protocol.Tokens

	// The struct is kept at 256 bytes, a Go size class: past it, each of
	// 10,000 idle connections costs 288 (hence remote is derived from
	// peerPort, not stored, and the small fields are packed here).
	state   atomic.Uint32
	lastCmd atomic.Uint32
	seq     uint32 // the loop registration's tag

	// budget is how many more requests this connection may run before it
	// yields to the others (-R); negative means no limit. yielded says it
	// stopped with input left over.
	budget int32
	// resps counts the response objects the replies since the last flush
	// hold, under read_buf_mem_limit (buffer_limit.go).
	resps   int32
	yielded bool

	inPooled bool // in came from srv.readBufs (a grown one did not)
	// lent says which of in and workBufs are the loop's spares, lent for
	// this turn (loopSpares); one byte keeps the struct at 256.
	lent     lentBufs
	detached bool // taken off the loop while it blocks (under loop.mu)
	// closeReason, when set, overrides the reason a watcher's
	// conn_close line gives.
	closeReason uint8
	noreply     bool
	closing     bool
	queued      bool // replies wait in the loop's outbox (loop_outbox.go)
	negotiated  bool // the protocol is decided (binary.go)
	binary      bool
	peek        [1]byte // an idle TLS connection's first byte (fillNext)
}

// resetBudget gives the connection its -R budget for one turn. Budgets
// past int32 are as good as none: no turn runs two billion requests.
func (c *conn) resetBudget() {
	c.budget = int32(min(c.srv.cfg.ReqsPerEvent, math.MaxInt32))
}

func newConn(srv *Server, rw io.ReadWriter) *conn {
	c := &conn{srv: srv, rw: rw, fd: -1, budget: -1}
	c.auth.ok = srv.auth.file.Load() == nil && !srv.auth.sasl
	c.setState(stateNewCmd)
	return c
}

func (c *conn) setState(s connState) { c.state.Store(uint32(s)) }

// socketless reports a connection with no socket of its own: a UDP
// request (or a test's in-memory connection).
func (c *conn) socketless() bool { return c.fd < 0 && c.nc == nil }

// peer is the client's address as the allowlist sees it (IPv4-mapped
// addresses unmapped); invalid on a unix socket.
func (c *conn) peer() netip.Addr { return c.peerPort.Addr().Unmap() }

// serve runs the connection until the client leaves, the protocol closes
// it, or the server shuts down. A panic is contained to this connection.
func (c *conn) serve() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = c.panicked(p)
		}
	}()
	for {
		c.resetBudget()
		if err := c.answer(); err != nil {
			return err
		}
		if c.yielded {
			// Its own goroutine has nobody on it to yield to; the yield
			// is counted, as memcached counts it, and serving goes on.
			c.yielded = false
			continue
		}
		c.trimWork()
		c.setState(stateRead)
		if err := c.fillNext(); err != nil {
			return err
		}
	}
}

// panicked counts a panic contained to this connection and describes it.
func (c *conn) panicked(p any) error {
	c.srv.panics.Add(1)
	return fmt.Errorf("panic serving %s: %v\n%s", c.remoteName(), p, debug.Stack())
}

// answer runs the complete requests in the buffer and sends the replies;
// errClose means the protocol ended the connection.
func (c *conn) answer() error {
	if err := c.processBuffered(); err != nil {
		c.flush()
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if c.closing {
		return errClose
	}
	return nil
}

// processBuffered executes every complete request line in the buffer.
func (c *conn) processBuffered() error {
	if c.r == c.w {
		return nil
	}
	if c.noResponse() {
		return errReadBufOOM
	}
	c.takeWork()
	if c.binaryMode() {
		return c.processBinary()
	}
	if !c.auth.ok && c.srv.auth.file.Load() != nil {
		if err := c.authenticate(); err != nil || !c.auth.ok {
			return err
		}
	}
	for !c.closing && !c.yield() {
		line, ok, err := c.nextLine()
		if err != nil {
			// A line that can no longer become a request closes the
			// connection, and memcached closes it without writing the
			// replies it still holds.
			c.dropUnsent()
			return err
		}
		if !ok {
			return nil
		}
		c.startRequest()
		if !c.takeResponse() {
			return nil
		}
		if w := c.workBufs; w != nil {
			w.pipelined, w.unsent = w.unsent, true
		}
		if err := c.dispatch(line); err != nil {
			return err
		}
		if err := c.flushIfFull(); err != nil {
			return err
		}
	}
	return nil
}

// startRequest books a request of either protocol as it starts: its state,
// the idle clock, the -R budget.
func (c *conn) startRequest() {
	c.setState(stateParseCmd)
	c.lastCmd.Store(c.srv.store.Now())
	c.budget--
}

// flushIfFull sends the replies of a pipeline early once they are many.
func (c *conn) flushIfFull() error {
	if !c.outFull() {
		return nil
	}
	return c.flush()
}

// yield reports whether the connection used up its -R budget; with input
// still buffered that is a yield, counted in conn_yields as memcached
// counts it (a connection that simply ran dry does not yield).
func (c *conn) yield() bool {
	if c.budget != 0 {
		return false
	}
	if c.r < c.w {
		c.yielded = true
		c.srv.yields.Add(1)
	}
	return true
}

// nextLine returns the next complete line (without its newline) and
// consumes it, or ok=false when more input is needed.
func (c *conn) nextLine() (line []byte, ok bool, err error) {
	line, n, err := protocol.NextLine(c.in[c.r:c.w])
	c.r += n
	return line, n > 0, err
}

// fill reads more input, making room first.
func (c *conn) fill() error {
	c.makeRoom()
	if c.in == nil {
		if err := c.takeInput(); err != nil {
			return err
		}
	}
	n, err := c.rw.Read(c.in[c.w:])
	c.w += n
	c.thread().bytesRead.Add(uint64(n))
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// makeRoom makes space after c.w for a read: with all input consumed, a
// grown buffer is dropped; a partial request moves to the front, or the
// buffer doubles when it is full of one.
func (c *conn) makeRoom() {
	if c.r == c.w {
		c.r, c.w = 0, 0
		if !c.inPooled {
			c.releaseInput()
		}
	} else if c.w == len(c.in) {
		if c.r > 0 {
			c.w = copy(c.in, c.in[c.r:c.w])
			c.r = 0
		} else {
			w := c.w
			bigger := make([]byte, 2*len(c.in))
			copy(bigger, c.in[:w])
			c.releaseInput()
			c.in, c.w = bigger, w
		}
	}
}

// readFull fills dst from the buffer, then straight from the socket, so a
// large value goes into item memory without an intermediate copy.
func (c *conn) readFull(dst []byte) error {
	n := copy(dst, c.in[c.r:c.w])
	c.r += n
	if n == len(dst) {
		return nil
	}
	if err := c.flushBeforeWait(); err != nil {
		return err
	}
	m, err := io.ReadFull(c.rw, dst[n:])
	c.thread().bytesRead.Add(uint64(m))
	return err
}

// discard consumes n bytes of input without keeping them.
func (c *conn) discard(n int) error {
	for n > 0 {
		if c.r == c.w {
			if err := c.flushBeforeWait(); err != nil {
				return err
			}
			if err := c.fill(); err != nil {
				return err
			}
		}
		k := min(n, c.w-c.r)
		c.r += k
		n -= k
	}
	return nil
}

// flush writes pending replies. On a worker loop a small reply waits in
// the loop's outbox until the round ends (loop_outbox.go).
func (c *conn) flush() error { return c.send(true) }

// send writes pending replies; mayQueue lets a loop connection's replies
// wait in the outbox. Whatever the connection queued earlier goes out first.
func (c *conn) send(mayQueue bool) error {
	c.resps = 0 // written, or quiet: the replies release theirs
	if c.workBufs != nil {
		// A write point even with nothing to write: memcached frees the
		// response objects of quiet requests here too.
		c.workBufs.sent, c.workBufs.unsent = 0, false
	}
	if l := c.onLoop(); l != nil {
		if mayQueue && l.queue(c) {
			return nil
		}
		if c.queued {
			if err := l.sendQueued(c); err != nil {
				return err
			}
		}
	}
	if c.pending() == 0 {
		return nil
	}
	c.setState(stateWrite)
	var n int
	var err error
	if c.workBufs != nil && len(c.views) > 0 {
		n, err = c.writeViews()
		c.unpinViews()
	} else {
		n, err = c.rw.Write(c.out)
	}
	c.thread().bytesWritten.Add(uint64(n))
	c.resetOut()
	c.setState(stateNewCmd)
	return err
}

// resetOut empties the output buffer once its bytes are written or
// queued, dropping one grown past keepBuffer.
func (c *conn) resetOut() {
	if cap(c.out) > keepBuffer {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
}

// flushBeforeWait sends the replies already computed, queued ones too,
// before the connection blocks for the rest of a data block, as memcached
// does: a pipelining client may wait for them before it sends more.
func (c *conn) flushBeforeWait() error {
	if c.pending() == 0 && !c.queued {
		return nil
	}
	st := c.state.Load()
	err := c.send(false)
	c.state.Store(st)
	return err
}

// reply writes a one-line reply unless the command asked for noreply.
func (c *conn) reply(s string) {
	if c.noreply {
		c.noreply = false
		return
	}
	c.out = append(c.out, s...)
	c.out = append(c.out, '\r', '\n')
}

// readValue reads a storage command's data block into a pending item and
// checks the CRLF after it.
func (c *conn) readValue(p store.Pending) (ok bool, err error) {
	c.setState(stateNread)
	c.segs = c.srv.store.Value(p, c.segs[:0])
	for _, seg := range c.segs {
		if err := c.readFull(seg); err != nil {
			return false, err
		}
	}
	if err := c.readFull(c.crlf[:]); err != nil {
		return false, err
	}
	return c.crlf == [2]byte{'\r', '\n'}, nil
}

// isTimeout tells a read interrupted by shutdown or idle timeout apart from
// a client error.
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
