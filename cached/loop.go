package cached

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Plain TCP and unix connections are served the way memcached serves
// them: -t worker loops, each waiting in its own epoll instance and
// running every ready connection's requests to completion on one thread.
//
// A goroutine per connection costs the Go scheduler a park and a wake-up
// around every blocking read, and an idle P's spinning thread besides;
// on a small box shared with its clients that was 20-40% more CPU per
// request than memcached. A loop blocked in epoll_wait is a
// thread in a system call: nothing spins, nothing is handed over.
//
// Requests almost always arrive whole, so the loop never blocks. When one
// does not (a data block still in flight) or a reply does not fit the
// socket buffer, the connection is detached: the loop's goroutine keeps
// serving it with blocking poll(2) waits and a fresh goroutine takes over
// the loop, so one slow client never stalls the others. Once the
// connection is idle again it rejoins the loop.

// loopEvents is how many ready connections one epoll_wait returns; more
// stay ready (level-triggered) for the next call.
const loopEvents = 256

type eventLoop struct {
	srv  *Server
	epfd int
	tl   *threadLocal
	// owner is the generation of the goroutine running the loop; a
	// goroutine that detached a connection sees it changed and leaves.
	owner atomic.Uint64
	seq   uint32 // under mu: tags epoll registrations against fd reuse

	mu      sync.Mutex
	conns   connTable
	stopped bool

	events   [loopEvents]unix.EpollEvent
	epoch    time.Time // the origin of now's readings
	lastScan uint32
	probe    bool // wait tries a non-blocking epoll_wait first
	// yielded holds connections that used up their -R budget with
	// requests still buffered (under mu). Their sockets may have nothing
	// more to read, so epoll would never wake for them: the loop serves
	// them after each round of ready sockets, without waiting.
	yielded []*conn
	spares  loopSpares // the loop's owner only
	// The round's replies, written when it ends (loop_outbox.go); the
	// loop's owner only.
	outbox []byte
	outs   []outboxEntry
	batch  bool // this round queues its replies (minBatch)
}

// startLoops creates the worker loops and the eventfd that tells them,
// and any detached connection waiting in poll(2), to stop.
func (s *Server) startLoops() error {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("creating the stop eventfd: %w", os.NewSyscallError("eventfd", err))
	}
	s.stopFD = efd
	for range max(s.cfg.Threads, 1) {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			s.closeLoops()
			return fmt.Errorf("creating a worker loop: %w", os.NewSyscallError("epoll_create1", err))
		}
		l := &eventLoop{srv: s, epfd: epfd, tl: &s.locals[len(s.loops)], epoch: time.Now()}
		s.loops = append(s.loops, l)
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
			s.closeLoops()
			return fmt.Errorf("watching the stop eventfd: %w", os.NewSyscallError("epoll_ctl", err))
		}
	}
	for _, l := range s.loops {
		s.loopWG.Add(1)
		go l.run(l.owner.Load())
	}
	return nil
}

// stopLoops wakes every loop and every detached connection to stop.
func (s *Server) stopLoops() {
	if s.stopFD >= 0 {
		unix.Write(s.stopFD, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
}

// closeLoops releases the loops' descriptors once nothing runs on them.
func (s *Server) closeLoops() {
	s.loopWG.Wait()
	for _, l := range s.loops {
		unix.Close(l.epfd)
	}
	s.loops = nil
	if s.stopFD >= 0 {
		unix.Close(s.stopFD)
		s.stopFD = -1
	}
}

// adopt moves an accepted connection's socket onto a worker loop. The
// descriptor is duplicated and the net.Conn closed, which takes it out of
// the Go runtime's poller; the duplicate shares the non-blocking file.
func (s *Server) adopt(nc net.Conn) (*conn, error) {
	defer nc.Close()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T has no socket", nc)
	}
	fd, err := dupFD(sc, 0)
	if err != nil {
		return nil, err
	}
	c := newConn(s, nil)
	c.fd = fd
	c.rw = socketIO{c}
	c.id = fd
	c.local = connAddr(nc.LocalAddr())
	c.lastCmd.Store(s.store.Now())
	return c, nil
}

// dupFD duplicates a socket's descriptor at the lowest number free from
// floor up; the duplicate shares its open file, non-blocking like the
// original.
func dupFD(sc syscall.Conn, floor int) (int, error) {
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(f uintptr) {
		fd, dupErr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, floor)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, os.NewSyscallError("dup", dupErr)
	}
	return fd, nil
}

// pickLoop spreads connections round-robin, as memcached's dispatcher does.
func (s *Server) pickLoop() *eventLoop {
	return s.loops[int(s.nextLoop.Add(1))%len(s.loops)]
}

// add registers a connection with the loop.
func (l *eventLoop) add(c *conn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return errClose
	}
	l.seq++
	c.seq = l.seq
	l.conns.put(c)
	return l.watch(c)
}

// watch arms a connection for readability (l.mu held).
func (l *eventLoop) watch(c *conn) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd), Pad: int32(c.seq)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		l.conns.remove(c)
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// run is the loop: wait for ready connections and serve them, until the
// server stops or this goroutine hands the loop over (detach).
func (l *eventLoop) run(gen uint64) {
	defer l.srv.loopWG.Done()
	timeout := -1
	if l.srv.cfg.IdleTimeout > 0 {
		timeout = 1000 // idle connections are looked for once a second
	}
	lastYield := l.now()
	for l.owner.Load() == gen {
		n, err := l.wait(timeout, &lastYield)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			l.srv.log.Error("worker loop failed; its connections are closed", "err", os.NewSyscallError("epoll_wait", err))
			l.stop()
			return
		}
		l.batch = n >= l.srv.cfg.batchFrom
		for i := range n {
			ev := l.events[i]
			if ev.Fd == int32(l.srv.stopFD) {
				l.stop()
				return
			}
			l.mu.Lock()
			c := l.conns.get(int(ev.Fd))
			l.mu.Unlock()
			if c == nil || c.seq != uint32(ev.Pad) {
				continue
			}
			l.serve(c)
			if l.owner.Load() != gen {
				// This goroutine now belongs to the connection it
				// detached, which serve has already brought back.
				return
			}
		}
		l.sendOutbox()
		if !l.serveYielded(gen) {
			return
		}
		l.sendOutbox()
		if timeout > 0 {
			l.kickIdle()
		}
		now := l.now()
		l.srv.store.MaintainIfDue(l.epoch.Add(now))
		lastYield = l.yieldIfBusy(now, lastYield)
	}
}

// serveYielded gives each connection that yielded before this round one
// more turn; one that yields again waits for the next round, so the
// sockets that became ready meanwhile are served first. It reports false
// when this goroutine lost the loop (a connection detached): the rest of
// the list stays for the new owner.
func (l *eventLoop) serveYielded(gen uint64) bool {
	l.mu.Lock()
	n := len(l.yielded)
	l.mu.Unlock()
	for range n {
		l.mu.Lock()
		c := l.yielded[0]
		l.yielded = l.yielded[1:]
		live := l.conns.get(c.fd) == c && !c.detached
		l.mu.Unlock()
		if !live {
			continue
		}
		l.serve(c)
		if l.owner.Load() != gen {
			return false
		}
	}
	return true
}

// serve runs what a ready connection sent; a panic ends only that
// connection.
func (l *eventLoop) serve(c *conn) {
	defer func() {
		if p := recover(); p != nil {
			l.close(c, c.panicked(p))
		}
	}()
	if err := c.serveReady(); err != nil {
		// What it answered before it ended goes out first, as memcached
		// writes a connection's replies before it closes it.
		if c.queued {
			if werr := l.sendQueued(c); werr != nil && errors.Is(err, errClose) {
				err = werr
			}
		}
		// A connection that ends, or becomes a watcher, gives back what
		// it was lent, here on the loop's goroutine (conn.close,
		// startWatching).
		if c.watcher != nil && errors.Is(err, errClose) {
			l.release(c)
			l.srv.startWatching(c)
			return
		}
		l.close(c, err)
		return
	}
	// Still lent after its turn (a partial request, a yield), it keeps
	// what it holds.
	l.handOff(c)
	switch {
	case c.detached:
		l.rejoin(c)
	case c.yielded:
		c.yielded = false
		l.mu.Lock()
		l.yielded = append(l.yielded, c)
		l.mu.Unlock()
	}
}

// serveReady runs what a ready connection sent, up to its -R budget of
// requests: first what a yield left in its buffer, then what the socket
// holds. It blocks only after detaching (socketIO.wait).
func (c *conn) serveReady() error {
	c.resetBudget()
	if c.r < c.w {
		if err := c.answer(); err != nil {
			return err
		}
		if c.yielded {
			return c.endTurn()
		}
	}
	for {
		c.makeRoom()
		if c.in == nil {
			if err := c.takeInput(); err != nil {
				return err
			}
		}
		n, err := rawRead(c.fd, c.in[c.w:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			c.idle()
			return nil
		case err != nil:
			return os.NewSyscallError("read", err)
		case n == 0:
			return io.EOF
		}
		c.w += n
		c.thread().bytesRead.Add(uint64(n))
		full := c.w == len(c.in)
		if err := c.answer(); err != nil {
			return err
		}
		if c.yielded {
			return c.endTurn()
		}
		if !full {
			// A short read took everything there was; asking again would
			// cost a system call to learn so.
			c.idle()
			return nil
		}
	}
}

// endTurn ends the turn of a connection that yielded. On its loop it goes
// to the back of the line (eventLoop.serve); detached, it has a goroutine
// of its own and nobody to yield to, so it keeps going.
func (c *conn) endTurn() error {
	for c.detached && c.yielded {
		c.yielded = false
		c.resetBudget()
		if err := c.answer(); err != nil {
			return err
		}
	}
	if !c.yielded {
		c.idle()
	}
	return nil
}

// idle parks a connection between requests: it keeps an input buffer only
// for a partial request, and no output or scratch buffers.
func (c *conn) idle() {
	if c.r == c.w {
		c.releaseInput()
	}
	c.releaseWork()
	c.setState(stateRead)
}

// rejoin puts a detached connection back on its loop, or closes it when
// the loop stopped meanwhile.
func (l *eventLoop) rejoin(c *conn) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		l.close(c, nil)
		return
	}
	c.detached = false
	err := l.watch(c)
	l.mu.Unlock()
	if err != nil {
		l.srv.finish(c, err)
	}
}

// detach hands the loop to a new goroutine so the current one may block
// on c. Only the loop's owner calls it, from inside serve.
func (l *eventLoop) detach(c *conn) {
	// The new owner may block in epoll_wait before it ends a round: the
	// replies queued so far go now. c's own went before it could block
	// (conn.send).
	l.sendOutbox()
	l.handOff(c)
	l.takeOff(c)
	go l.run(l.owner.Add(1))
}

// takeOff detaches c from the loop: epoll stops watching it, and the
// goroutine about to be started (the loop's new owner, or c's own in
// drain) is counted in loopWG, the detach in detaches.
func (l *eventLoop) takeOff(c *conn) {
	l.mu.Lock()
	c.detached = true
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	l.mu.Unlock()
	l.srv.loopWG.Add(1)
	l.srv.detaches.Add(1)
}

// release takes a connection off the loop for good (watch, close).
func (l *eventLoop) release(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns.remove(c) {
		if !c.detached {
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
		}
	}
}

// close ends a connection served by this loop.
func (l *eventLoop) close(c *conn, err error) {
	// Queued replies of a connection that ends here are dropped: its
	// descriptor is about to close. Only the owner closes one that has
	// them (a detached connection has none).
	l.unqueue(c)
	l.release(c)
	l.srv.finish(c, err)
}

// stop closes the connections waiting on the loop; detached ones close
// themselves when their wait sees the stop (socketIO.wait) or they try
// to rejoin.
func (l *eventLoop) stop() {
	l.sendOutbox()
	l.mu.Lock()
	l.stopped = true
	var waiting []*conn
	for _, c := range l.conns.byFD {
		if c != nil && !c.detached {
			waiting = append(waiting, c)
		}
	}
	l.mu.Unlock()
	for _, c := range waiting {
		l.close(c, nil)
	}
}

// kickIdle closes connections that sent no command for longer than
// idle_timeout, as memcached's idle check does with last_cmd_time.
func (l *eventLoop) kickIdle() {
	now := l.srv.store.Now()
	if now == l.lastScan {
		return
	}
	l.lastScan = now
	limit := uint32(math.Ceil(l.srv.cfg.IdleTimeout.Seconds()))
	var idle []*conn
	l.mu.Lock()
	for _, c := range l.conns.byFD {
		if c != nil && !c.detached && now-c.lastCmd.Load() > limit {
			idle = append(idle, c)
		}
	}
	l.mu.Unlock()
	for _, c := range idle {
		l.close(c, errIdle)
	}
}
