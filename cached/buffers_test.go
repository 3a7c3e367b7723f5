package cached

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func bufferTestServer(t *testing.T, maxConns int) (*Server, int) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Port = freeLoopbackPort(t)
	cfg.MaxConns = maxConns
	return serveTransport(t, cfg, nil), cfg.Port
}

// readBufStats returns read_buf_count, read_buf_bytes, read_buf_bytes_free.
func readBufStats(t *testing.T, nc net.Conn) (count, bytes, free int64) {
	t.Helper()
	lines := textRequest(t, nc, "stats\r\n", "END")
	get := func(name string) int64 {
		v, err := strconv.ParseInt(statValue(lines, name), 10, 64)
		if err != nil {
			t.Fatalf("stat %s: %v", name, err)
		}
		return v
	}
	return get("read_buf_count"), get("read_buf_bytes"), get("read_buf_bytes_free")
}

// TestIdleConnectionsHoldNoReadBuffers: connections that answered a
// request and went idle hand their input buffers back, so 2,000 of them
// cost no more than the bounded free list.
func TestIdleConnectionsHoldNoReadBuffers(t *testing.T) {
	const n = 2000
	srv, port := bufferTestServer(t, n+10)
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, nc := range conns {
			nc.Close()
		}
	})
	reply := make([]byte, 64)
	for i := range n {
		nc := dialLoopback(t, port)
		conns = append(conns, nc)
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(nc, "version\r\n"); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if k, err := nc.Read(reply); err != nil || !strings.HasPrefix(string(reply[:k]), "VERSION ") {
			t.Fatalf("connection %d: version reply %q, %v", i, reply[:k], err)
		}
	}
	if got := srv.currConns.Load(); got != n {
		t.Fatalf("%d connections open, want %d", got, n)
	}
	// A connection writes its reply before it parks and hands its buffer
	// back, so the last few may still hold one when their client has read
	// the reply: wait, bounded, until every loop has parked them. Only the
	// connection asking for stats then holds a buffer; the rest is the free
	// list, bounded however many connections came and went.
	var count, bytes, free, inUse int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		count, bytes, free = readBufStats(t, conns[0])
		inUse = count - free/readBufferSize
		if inUse <= 1 || time.Now().After(deadline) {
			break
		}
	}
	if inUse > 1 || count > maxFreeReadBufs+1 || bytes != count*readBufferSize {
		t.Errorf("%d idle connections: read_buf_count %d (%d in use), read_buf_bytes %d, read_buf_bytes_free %d; want at most 1 in use and %d in all",
			n, count, inUse, bytes, free, maxFreeReadBufs+1)
	}
}

// TestByteCountersSumTheLoops: each worker loop counts its own bytes, and
// bytes_read and bytes_written add up every connection's, whichever loop
// served it.
func TestByteCountersSumTheLoops(t *testing.T) {
	_, port := bufferTestServer(t, 20)
	var read, written int
	for i := range 8 { // round robin: two connections on each of the 4 loops
		nc := dialLoopback(t, port)
		req := fmt.Sprintf("set k%d 0 0 5\r\nhello\r\nget k%d\r\n", i, i)
		written += replyBytes(textRequest(t, nc, req, "END"))
		read += len(req)
	}
	stats := "stats\r\n"
	read += len(stats) // counted when read, before the reply is made
	nc := dialLoopback(t, port)
	// A loop adds a reply's bytes once its write returns, which may be
	// just after the client has the reply: ask again, bounded.
	var gotRead, gotWritten string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		lines := textRequest(t, nc, stats, "END")
		gotRead, gotWritten = statValue(lines, "bytes_read"), statValue(lines, "bytes_written")
		if gotWritten == strconv.Itoa(written) || time.Now().After(deadline) {
			break
		}
		read += len(stats)
		written += replyBytes(lines)
	}
	if gotRead != strconv.Itoa(read) || gotWritten != strconv.Itoa(written) {
		t.Errorf("bytes_read %s, bytes_written %s; want %d, %d", gotRead, gotWritten, read, written)
	}
}

// replyBytes is how many bytes the server wrote for textRequest's lines.
func replyBytes(lines []string) int {
	n := 0
	for _, l := range lines {
		n += len(l) + len("\r\n")
	}
	return n
}

// TestIdleConnectionStructSize: the struct of every connection stays in
// the 256-byte size class; one byte more and 10,000 idle clients cost
// 320 KB more.
func TestIdleConnectionStructSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 256 {
		t.Fatalf("conn is %d bytes, past the 256-byte size class: move a field to the work buffers or derive it", n)
	}
}

// TestRequestSplitIntoSingleBytes: requests that arrive a byte at a time,
// and a multi-get line longer than one input buffer, are answered as if
// sent whole while idle waits hold no buffer.
func TestRequestSplitIntoSingleBytes(t *testing.T) {
	srv, port := bufferTestServer(t, 10)
	nc := dialLoopback(t, port)
	nc.(*net.TCPConn).SetNoDelay(true)
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(nc)

	// Nagle is off on both ends: each byte goes in its own segment, and
	// the pause lets the daemon see it alone.
	send := func(req string, chunk int) {
		t.Helper()
		for len(req) > 0 {
			k := min(chunk, len(req))
			if _, err := io.WriteString(nc, req[:k]); err != nil {
				t.Fatal(err)
			}
			req = req[k:]
			time.Sleep(200 * time.Microsecond)
		}
	}
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			line, err := r.ReadString('\n')
			if err != nil || line != w+"\r\n" {
				t.Fatalf("reply line %q, %v; want %q", line, err, w)
			}
		}
	}

	send("set k 0 0 5\r\nhello\r\nget k\r\n", 1)
	expect("STORED", "VALUE k 0 5", "hello", "END")
	send("mn\r\n", 1)
	expect("MN")

	var line strings.Builder
	line.WriteString("get")
	for i := range 3000 {
		fmt.Fprintf(&line, " miss:%05d", i)
	}
	line.WriteString(" k\r\n")
	if line.Len() <= 2*readBufferSize {
		t.Fatalf("multi-get line of %d bytes does not outgrow the input buffer", line.Len())
	}
	send(line.String(), 1000)
	expect("VALUE k 0 5", "hello", "END")

	srv.mu.Lock()
	for c := range srv.conns {
		if c.loop == nil {
			t.Errorf("TCP connection %s is not served by a worker loop", c.remoteName())
		}
	}
	srv.mu.Unlock()
	if srv.detaches.Load() == 0 {
		t.Error("a data block sent a byte at a time never detached its connection from the loop")
	}
	// The grown buffer went to the garbage collector, not the free list.
	count, bytes, free := readBufStats(t, nc)
	if count-free/readBufferSize != 1 || bytes != count*readBufferSize {
		t.Errorf("after a long line: read_buf_count %d, read_buf_bytes %d, read_buf_bytes_free %d; want 1 in use", count, bytes, free)
	}
}
