package cached

// read_buf_mem_limit, as memcached 1.6.18 applies it. memcached carves
// both connection read buffers and response objects out of one cache of
// 16 KB buffers per worker thread, limited to read_buf_mem_limit divided
// among the threads. A response object is one reply of a request; a
// multi-get takes one per key, thirteen to a buffer. A get naming more
// keys than the buffers a connection can have hold is refused with
// SERVER_ERROR out of memory writing get response (response_obj_oom), and
// the replies still unsent on that connection are dropped with it; a
// connection that cannot get a read buffer is closed (read_buf_oom).
//
// Here replies are bytes in the connection's write buffer, so the limit
// is applied by counting: each connection may have one read buffer plus
// the response objects of the rest of its thread's share, and read
// buffers number the threads' shares less one each: once a memcached
// thread has answered anything, it keeps one buffer of response objects
// for the next reply.

// respPerBuffer is memcached's MAX_RESP_PER_BUNDLE on 64-bit Linux: 16 KB
// less the bundle header, over a 1.2 KB mc_resp.
const respPerBuffer = 13

// noRespLimit is respLimit when read_buf_mem_limit is not set.
const noRespLimit = -1

// limitBuffers applies read_buf_mem_limit to the read buffer cache and
// sets how many response objects one request may take.
func (s *Server) limitBuffers() {
	s.respLimit = noRespLimit
	if s.cfg.ReadBufMemLimit == 0 {
		return
	}
	perThread := s.cfg.ReadBufMemLimit / uint64(max(s.cfg.Threads, 1))
	bufs := max(perThread/readBufferSize, 1)
	s.readBufs.limit = int64(max(bufs-1, 1)) * int64(max(s.cfg.Threads, 1))
	// The connection's own read buffer is one of its thread's share.
	s.respLimit = int(bufs-1) * respPerBuffer
}

// noResponse reports a request that cannot have even one response object,
// which makes memcached close the connection.
func (c *conn) noResponse() bool {
	if c.srv.respLimit != 0 {
		return false
	}
	c.srv.respOOM.Add(1)
	return true
}

// takeResponse books the response object a text request needs before it
// runs. Replies stacked by a pipeline hold theirs until they are written;
// when none is left memcached closes the connection, dropping the replies
// it has not sent (conn-limits.t).
func (c *conn) takeResponse() bool {
	if c.srv.respLimit == noRespLimit {
		return true
	}
	if int(c.resps) >= c.srv.respLimit {
		c.srv.respOOM.Add(1)
		c.truncateOut(0)
		c.closing = true
		return false
	}
	c.resps++
	return true
}

// fieldCount counts the space-separated tokens of b.
func fieldCount(b []byte) int {
	n, in := 0, false
	for _, ch := range b {
		switch {
		case ch == ' ':
			in = false
		case !in:
			in = true
			n++
		}
	}
	return n
}
