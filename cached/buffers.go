package cached

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cachectl/cachectl/cached/protocol"
	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"
)

// Buffer lifetimes. A connection holds an input buffer only while it has
// unprocessed input, and its output and value scratch buffers only while
// it works on a request, as memcached 1.6 does with its per-thread read
// buffer cache: thousands of idle connections then cost (almost) no
// buffer memory, and a flood of connections leaves nothing behind.
const (
	// maxFreeReadBufs bounds the input buffers kept for reuse (1 MB,
	// split between the threads);
	// beyond it a returned buffer is left to the garbage collector, so a
	// burst of connections does not pin its peak forever.
	maxFreeReadBufs = 64
	// outBufferSize is the capacity a fresh output buffer starts with;
	// most replies fit, bigger ones grow it up to keepBuffer.
	outBufferSize = 4 << 10
)

// readBufs counts and limits the input buffers, all readBufferSize long.
// The free ones are kept per worker loop (threadLocal), as memcached keeps
// a read buffer cache per thread: one list shared by the loops passed its
// lock's cache line between the CPUs twice a request. The counts are
// exact: they are memcached's read_buf_* stats.
type readBufs struct {
	total atomic.Int64  // allocated and not yet dropped: in use + free
	limit int64         // most buffers allocated at once; 0 = no limit
	oom   atomic.Uint64 // memcached's read_buf_oom: get found none
	keep  int           // free buffers each threadLocal keeps
}

// threadLocal is what serving a request changes that memcached keeps per
// worker thread: the free input buffers and the byte counters. Each loop
// has its own, and the connections off the loops (TLS, UDP, watchers)
// share one more; `stats` sums them. The padding gives each cache lines
// of its own.
type threadLocal struct {
	_    cpu.CacheLinePad
	mu   sync.Mutex
	free [][]byte // under mu
	// spare is 1 while the loop holds a spare input buffer (loopSpares),
	// which counts as free (under mu).
	spare        int
	bytesRead    atomic.Uint64
	bytesWritten atomic.Uint64
	_            cpu.CacheLinePad
}

// newThreadLocals makes one threadLocal per worker loop and one for the
// connections off them, and splits the free buffers' bound between them.
func (s *Server) newThreadLocals() {
	s.locals = make([]threadLocal, max(s.cfg.Threads, 1)+1)
	s.readBufs.keep = max(maxFreeReadBufs/len(s.locals), 2)
}

// offLoop is the threadLocal of the connections no loop serves.
func (s *Server) offLoop() *threadLocal { return &s.locals[len(s.locals)-1] }

// thread is the threadLocal this connection's requests change.
func (c *conn) thread() *threadLocal {
	if c.loop != nil {
		return c.loop.tl
	}
	return c.srv.offLoop()
}

// get returns a readBufferSize buffer, reusing one of t's free ones when
// it can; nil when read_buf_mem_limit allows no more.
func (p *readBufs) get(t *threadLocal) []byte {
	t.mu.Lock()
	if n := len(t.free); n > 0 {
		b := t.free[n-1]
		t.free[n-1] = nil
		t.free = t.free[:n-1]
		t.mu.Unlock()
		return b
	}
	t.mu.Unlock()
	if !p.reserve() {
		return nil
	}
	return make([]byte, readBufferSize)
}

// reserve counts one more buffer, unless read_buf_mem_limit is reached
// (then it counts the refusal in read_buf_oom).
func (p *readBufs) reserve() bool {
	for {
		n := p.total.Load()
		if p.limit > 0 && n >= p.limit {
			p.oom.Add(1)
			return false
		}
		if p.total.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// put takes back a buffer that get returned, into t's free ones.
func (p *readBufs) put(t *threadLocal, b []byte) {
	t.mu.Lock()
	if len(t.free)+t.spare < p.keep {
		t.free = append(t.free, b)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	p.total.Add(-1)
}

// readBufCounts reports memcached's read_buf_count, read_buf_bytes and
// read_buf_bytes_free: every buffer the cache allocated and still
// tracks (held by a connection or free), their bytes, and the free ones'
// bytes. Buffers grown for a long line are outside the cache, as in
// memcached. A loop's spare counts as free, unless asker (the connection
// asking, or nil) holds it: memcached's asking connection holds a buffer
// of its own.
func (s *Server) readBufCounts(asker *conn) (count, bytes, free int64) {
	total := s.readBufs.total.Load()
	for i := range s.locals {
		t := &s.locals[i]
		t.mu.Lock()
		free += int64(len(t.free) + t.spare)
		t.mu.Unlock()
	}
	if asker != nil && asker.lent&lentIn != 0 {
		free--
	}
	return total, total * readBufferSize, free * readBufferSize
}

// bytesIO sums memcached's bytes_read and bytes_written over the threads.
func (s *Server) bytesIO() (read, written uint64) {
	for i := range s.locals {
		read += s.locals[i].bytesRead.Load()
		written += s.locals[i].bytesWritten.Load()
	}
	return read, written
}

// workBufs are what a connection needs only while a request runs: its
// output and value scratch buffers, its request line's tokens, a data
// block's segments and the binary request, pooled together so taking and
// returning them costs one pool operation. A sync.Pool suits them:
// nothing reports their count, and the garbage collector may drop the
// ones a burst left behind.
type workBufs struct {
	out, scratch []byte
	segs         [][]byte
	tokens       protocol.Tokens
	// binReq is the binary request being answered, kept here because the
	// handler table's indirect calls would move a local one to the heap.
	binReq protocol.BinaryRequest
	// crlf receives the two bytes after a data block (readValue).
	crlf [2]byte
	// Values the replies in out send from the slab (conn_views.go).
	views     []outView
	pins      []uint32
	viewBytes int
	iov       []unix.Iovec
	// sent is how much of out memcached would have written already
	// (markSent). unsent says a request has run since: memcached holds a
	// response object for it, shown or not (noreply, q), until it writes;
	// pipelined is unsent as the current request found it, and a watch
	// behind such a request is refused.
	sent              int
	unsent, pipelined bool
}

var workPool sync.Pool // of *workBufs

// errReadBufOOM closes a connection that found no input buffer under
// read_buf_mem_limit, as memcached closes one whose read buffer cannot be
// allocated.
var errReadBufOOM = fmt.Errorf("%w: read_buf_mem_limit reached", errClose)

// takeInput gives the connection an input buffer: on its loop the loop's
// spare, else a free one of its thread's when there is one.
func (c *conn) takeInput() error {
	if l := c.onLoop(); l != nil && !l.spares.inLent {
		return l.lendInput(c)
	}
	b := c.srv.readBufs.get(c.thread())
	if b == nil {
		return errReadBufOOM
	}
	c.in, c.inPooled = b, true
	return nil
}

// releaseInput gives the input buffer back (a grown one is dropped). It
// must hold no unprocessed input.
func (c *conn) releaseInput() {
	if c.lent&lentIn != 0 {
		c.lent &^= lentIn
		c.loop.spares.inLent = false
	} else if c.inPooled {
		c.srv.readBufs.put(c.thread(), c.in)
	} else if cap(c.in) > readBufferSize && c.tokens != nil {
		// Tokens of the last line point into the grown buffer; drop them
		// so an idle connection does not keep it alive.
		clear(c.tokens[:])
	}
	c.in, c.inPooled, c.r, c.w = nil, false, 0, 0
}

// takeWork gives the connection output and scratch buffers for a request.
func (c *conn) takeWork() {
	if c.workBufs != nil {
		return
	}
	var w *workBufs
	if l := c.onLoop(); l != nil && !l.spares.workLent {
		w = l.lendWork(c)
	} else {
		w, _ = workPool.Get().(*workBufs)
	}
	if w == nil {
		w = &workBufs{}
	}
	if cap(w.out) == 0 {
		w.out = make([]byte, 0, outBufferSize)
	}
	w.scratch, w.segs, w.sent = w.scratch[:0], w.segs[:0], 0
	w.unsent, w.pipelined = false, false
	c.workBufs, c.out, c.tokens = w, w.out[:0], &w.tokens
}

// releaseWork returns the output and scratch buffers once the replies
// are written; ones grown past keepBuffer are dropped.
func (c *conn) releaseWork() {
	w := c.workBufs
	if w == nil {
		return
	}
	c.unpinViews()
	w.out, w.scratch = keepable(c.out), keepable(w.scratch)
	// Pooled, the segments must not keep item memory reachable.
	clear(w.segs)
	// The tokens point into this connection's input; pooled, they must
	// not keep it alive.
	clear(w.tokens[:])
	if c.lent&lentWork != 0 {
		c.lent &^= lentWork
		c.loop.spares.workLent = false
	} else {
		workPool.Put(w)
	}
	c.workBufs, c.out, c.tokens = nil, nil, nil
}

// trimWork runs between requests: small buffers stay for the next
// request, which then costs no pool operation; larger ones go back to the
// pool. An idle plain socket returns even the small ones (readFD).
func (c *conn) trimWork() {
	if c.workBufs != nil && (cap(c.out) == 0 || cap(c.out) > outBufferSize || cap(c.scratch) > outBufferSize) {
		c.releaseWork()
	}
}

func keepable(b []byte) []byte {
	if cap(b) > keepBuffer {
		return nil
	}
	return b[:0]
}

// loopSpares are the input and work buffers a loop lends to each
// connection it serves, so the common request (whole on arrival, answered
// at once) takes and returns them with no lock and no pool: taking a free
// input buffer under its thread's lock and the work buffers from a
// sync.Pool cost about 1.5% of the daemon's CPU at W3. Only the goroutine
// that owns the loop touches them. A connection that keeps a buffer past
// its turn (a partial request, a yield, a detach) keeps it for good
// (handOff), and the loop takes another next time.
type loopSpares struct {
	in   []byte
	work *workBufs
	// Lent now. A connection gives the spares back or keeps them before
	// the loop serves the next one; should one ever not, the next takes
	// buffers as a connection off the loop does, never the same ones.
	inLent, workLent bool
}

// lentBufs says which of a loop's spares a connection holds.
type lentBufs uint8

const (
	lentIn lentBufs = 1 << iota
	lentWork
)

// setSpare records whether the loop holds a spare input buffer, which
// read_buf_bytes_free counts.
func (t *threadLocal) setSpare(n int) {
	t.mu.Lock()
	t.spare = n
	t.mu.Unlock()
}

// onLoop returns the loop whose goroutine serves c now: nil off the
// loops, and for a detached connection, which has a goroutine of its own.
func (c *conn) onLoop() *eventLoop {
	if c.loop == nil || c.detached {
		return nil
	}
	return c.loop
}

// lendInput gives c the loop's spare input buffer, taking one first when
// the loop has none (a connection kept the last).
func (l *eventLoop) lendInput(c *conn) error {
	sp := &l.spares
	if sp.in == nil {
		b := l.srv.readBufs.get(l.tl)
		if b == nil {
			return errReadBufOOM
		}
		l.tl.setSpare(1)
		sp.in = b
	}
	sp.inLent = true
	c.in, c.inPooled = sp.in, true
	c.lent |= lentIn
	return nil
}

// lendWork gives c the loop's spare work buffers; nil when the loop must
// make new ones.
func (l *eventLoop) lendWork(c *conn) *workBufs {
	sp := &l.spares
	if sp.work == nil {
		sp.work, _ = workPool.Get().(*workBufs)
		if sp.work == nil {
			sp.work = &workBufs{}
		}
	}
	sp.workLent = true
	c.lent |= lentWork
	return sp.work
}

// handOff lets c keep what it borrowed from its loop: it is an ordinary
// pooled input buffer and pooled work buffers from now on. Called by the
// loop's owner before c outlives its turn; a detached connection, which
// borrows nothing, returns at once.
func (l *eventLoop) handOff(c *conn) {
	if c.lent == 0 {
		return
	}
	sp := &l.spares
	if c.lent&lentIn != 0 {
		sp.inLent, sp.in = false, nil
		l.tl.setSpare(0)
	}
	if c.lent&lentWork != 0 {
		sp.workLent, sp.work = false, nil
	}
	c.lent = 0
}
