package cached

import "golang.org/x/sys/unix"

// A loop round writes its replies together, after it has read and
// answered every ready connection, instead of one by one between them.
//
// On loopback a write does the receiver's work too and wakes the client
// thread it delivers to, and a woken client that finds one reply handles
// it and sleeps again. With the writes spread over the round, memcaslap's
// threads woke for a reply or two at a time, and with the clients on the
// same two CPUs as the loops that cost everyone: the daemon ran memcaslap
// at 0.89x memcached. Written together at the end of the round, the
// replies reach a client that wakes once and finds them all; memcaslap
// gained 4-5% at 3-4% less CPU per request, and the checked workloads
// used 1-3% less CPU per request with no loss of throughput
// (cmd/cachectl-bench/RESULTS.md).
//
// The round's replies are copied into the loop's outbox: a connection's
// own buffers go back as soon as its turn ends, as before. Only busy
// rounds queue (minBatch) and only small replies wait (a value sent from
// the slab, or a reply over maxQueued, is written at once), and a
// connection's queued replies always go out before anything it writes
// directly, so its replies stay in order.

const (
	// minBatch is the fewest ready connections a round queues replies
	// for. A round of a few is short and has few wake-ups to save, and
	// there a reply waiting for the others only idles its client: with
	// 10 clients of 50-key multi-gets (W5) queueing cost 9% of the
	// throughput and 14% more CPU per key.
	minBatch = 8
	// maxQueued is the largest reply that waits for the end of the round.
	maxQueued = 16 << 10
	// outboxLimit bounds what a round holds back; past it replies are
	// written at once. Far above a round of small replies (256 ready
	// connections at a few hundred bytes each).
	outboxLimit = 256 << 10
)

// outboxEntry is one connection's replies in the outbox: the bytes from
// the previous entry's end up to end.
type outboxEntry struct {
	c   *conn // nil once taken out (sendQueued, unqueue)
	end int
}

// queue puts c's pending replies in the outbox, reporting whether it did;
// a connection with nothing pending has nothing to queue. Only the loop's
// owner, serving c, calls it.
func (l *eventLoop) queue(c *conn) bool {
	n := c.pending()
	if n == 0 {
		return true
	}
	if !l.batch || c.closing || n > maxQueued || len(l.outbox)+n > outboxLimit || c.workBufs != nil && len(c.views) > 0 {
		return false
	}
	l.outbox = append(l.outbox, c.out...)
	l.outs = append(l.outs, outboxEntry{c: c, end: len(l.outbox)})
	c.queued = true
	c.resetOut()
	return true
}

// sendOutbox writes the round's replies. It runs on the loop's owner
// between turns: at the end of a round, before the loop is handed over
// (detach) and when it stops. A socket that takes only part of a reply
// is left to a goroutine of its own (drain); one whose write fails is
// shut down, and its next event closes it, as memcached closes a
// connection it cannot write to.
func (l *eventLoop) sendOutbox() {
	if len(l.outs) == 0 {
		return
	}
	from := 0
	for _, e := range l.outs {
		b := l.outbox[from:e.end]
		from = e.end
		c := e.c
		if c == nil {
			continue
		}
		c.queued = false
		n, err := writeNonBlocking(c.fd, b)
		c.thread().bytesWritten.Add(uint64(n))
		switch {
		case err == unix.EAGAIN:
			l.drain(c, b[n:])
		case err != nil:
			unix.Shutdown(c.fd, unix.SHUT_RDWR)
		}
	}
	clear(l.outs) // the entries must not keep closed connections alive
	l.outs = l.outs[:0]
	l.outbox = l.outbox[:0]
}

// writeNonBlocking writes b until it is written or the socket would block.
func writeNonBlocking(fd int, b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := rawWrite(fd, b[done:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return done, err
		}
		done += n
	}
	return done, nil
}

// sendQueued writes c's queued replies itself, ahead of a reply that
// cannot wait or before c blocks or closes; like any write on the loop it
// may detach c. Only the loop's owner, serving c, calls it.
func (l *eventLoop) sendQueued(c *conn) error {
	b := l.unqueue(c)
	if len(b) == 0 {
		return nil
	}
	n, err := c.rw.Write(b)
	c.thread().bytesWritten.Add(uint64(n))
	return err
}

// unqueue takes c's replies out of the outbox and returns a copy: a write
// that detaches c leaves the outbox to the loop's next owner.
func (l *eventLoop) unqueue(c *conn) []byte {
	if !c.queued {
		return nil
	}
	c.queued = false
	var b []byte
	from := 0
	for i, e := range l.outs {
		if e.c == c {
			b = append(b, l.outbox[from:e.end]...)
			l.outs[i].c = nil
		}
		from = e.end
	}
	return b
}

// drain finishes a queued reply the socket would not take whole: the
// connection leaves the loop, and a goroutine of its own writes the rest,
// blocking, then serves it until it rejoins, as a connection detached in
// its turn is served. The loop goes on with the others.
func (l *eventLoop) drain(c *conn, rest []byte) {
	l.takeOff(c)
	c.out = append(c.out, rest...)
	go func() {
		defer l.srv.loopWG.Done()
		if err := c.flush(); err != nil {
			l.close(c, err)
			return
		}
		l.serve(c)
	}()
}
