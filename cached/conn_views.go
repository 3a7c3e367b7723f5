package cached

import (
	"math"
)

// A get hit's value of minView bytes or more is not copied into the reply
// buffer: the reply goes out with writev, its value straight from the
// slab, and the item stays pinned in the store until the write returns
// (store.AppendGetView). Below minView the copy costs less than the pin.
// Only plain sockets write this way; TLS and in-memory connections take
// the copy.
const (
	minView = 1 << 10
	// maxViews bounds the values one write gathers; a multi-get sends
	// what it has when it reaches it, as when the buffer fills.
	maxViews = 64
	noView   = math.MaxUint32
)

// outView is a value sent from the slab, after out[:at].
type outView struct {
	at int
	b  []byte
}

// viewMin is the smallest value this connection sends from the slab.
func (c *conn) viewMin() uint32 {
	if _, ok := c.rw.(socketIO); ok {
		return minView
	}
	return noView
}

// addView queues a pinned value after what out holds now.
func (c *conn) addView(b []byte, ref uint32) {
	c.views = append(c.views, outView{at: len(c.out), b: b})
	c.pins = append(c.pins, ref)
	c.viewBytes += len(b)
}

// pending is how many reply bytes wait to be written.
func (c *conn) pending() int {
	if c.workBufs == nil {
		return len(c.out)
	}
	return len(c.out) + c.viewBytes
}

// outFull reports whether the replies gathered should be written now.
func (c *conn) outFull() bool {
	return c.pending() >= flushThreshold || c.workBufs != nil && len(c.views) >= maxViews
}

// truncateOut drops the replies past out[:n], with their values' pins.
func (c *conn) truncateOut(n int) {
	c.out = c.out[:n]
	if c.workBufs == nil {
		return
	}
	c.workBufs.sent = min(c.workBufs.sent, n)
	keep := len(c.views)
	for keep > 0 && c.views[keep-1].at > n {
		keep--
		c.viewBytes -= len(c.views[keep].b)
	}
	if keep < len(c.views) {
		c.srv.store.Unpin(c.pins[keep:])
		c.views, c.pins = c.views[:keep], c.pins[:keep]
	}
}

// unpinViews lets the store reuse the values written (or abandoned).
func (c *conn) unpinViews() {
	if c.workBufs == nil || len(c.pins) == 0 {
		return
	}
	c.srv.store.Unpin(c.pins)
	clear(c.views) // pooled, they must not keep slab slices
	c.views, c.pins, c.viewBytes = c.views[:0], c.pins[:0], 0
}

// markSent notes that memcached would have written every reply so far: it
// writes a get's reply as soon as the get ends, where cachectl keeps
// gathering replies for one write.
func (c *conn) markSent() {
	if c.workBufs != nil {
		c.workBufs.sent, c.workBufs.unsent = len(c.out), false
	}
}

// dropUnsent drops the replies memcached would not have written yet, as
// its conn_release_items does when a get fails on a long key or runs out
// of response objects.
func (c *conn) dropUnsent() {
	n := 0
	if c.workBufs != nil {
		n = c.workBufs.sent
	}
	c.truncateOut(n)
}
