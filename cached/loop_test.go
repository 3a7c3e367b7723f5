package cached

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// oneLoopServer serves with a single worker loop, so every connection in
// a test shares it and a stall would show.
func oneLoopServer(t *testing.T, idle time.Duration) (*Server, int) {
	t.Helper()
	cfg := oneLoopConfig(t)
	cfg.IdleTimeout = idle
	return serveTransport(t, cfg, nil), cfg.Port
}

// oneLoopConfig is the default configuration with one worker loop, on a
// free loopback port.
func oneLoopConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Port = freeLoopbackPort(t)
	cfg.Threads = 1
	return cfg
}

// roundTrips checks the loop still answers another client promptly.
func roundTrips(t *testing.T, port, n int) {
	t.Helper()
	nc := dialLoopback(t, port)
	defer nc.Close()
	for i := range n {
		textRequest(t, nc, fmt.Sprintf("set other%d 0 0 1\r\nx\r\n", i), "STORED")
		if got := textRequest(t, nc, fmt.Sprintf("get other%d\r\n", i), "END"); len(got) != 3 || got[1] != "x" {
			t.Fatalf("get other%d: %q", i, got)
		}
	}
}

// TestLoopSlowReader: a client that asks for 20 MB of replies and reads
// none of them fills its socket; the loop detaches it and keeps serving
// the other client, and the slow one later gets every byte.
func TestLoopSlowReader(t *testing.T) {
	srv, port := oneLoopServer(t, 0)
	slow := dialLoopback(t, port)
	value := strings.Repeat("v", 512<<10)
	textRequest(t, slow, fmt.Sprintf("set big 0 0 %d\r\n%s\r\n", len(value), value), "STORED")
	const gets = 40
	if _, err := io.WriteString(slow, strings.Repeat("get big\r\n", gets)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the reply fill the socket buffers

	roundTrips(t, port, 50)
	if srv.detaches.Load() == 0 {
		t.Error("the blocked writer was never detached from the loop")
	}

	slow.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReaderSize(slow, 64<<10)
	for i := range gets {
		header, err := r.ReadString('\n')
		if err != nil || header != fmt.Sprintf("VALUE big 0 %d\r\n", len(value)) {
			t.Fatalf("reply %d header %q: %v", i, header, err)
		}
		body := make([]byte, len(value)+len("\r\nEND\r\n"))
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatalf("reply %d body: %v", i, err)
		}
		if string(body) != value+"\r\nEND\r\n" {
			t.Fatalf("reply %d body differs from the stored value", i)
		}
	}
	// Back on the loop, the connection still works.
	textRequest(t, slow, "version\r\n", "")
}

// TestLoopDataBlockInFlight: a set whose data block arrives late does not
// hold up the loop; once it arrives it is stored, and the connection
// serves further requests.
func TestLoopDataBlockInFlight(t *testing.T) {
	_, port := oneLoopServer(t, 0)
	late := dialLoopback(t, port)
	if _, err := io.WriteString(late, "set late 0 0 10\r\nabc"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	roundTrips(t, port, 20)
	textRequest(t, late, "defghij\r\n", "STORED")
	if got := textRequest(t, late, "get late\r\n", "END"); len(got) != 3 || got[1] != "abcdefghij" {
		t.Fatalf("get late: %q", got)
	}
}

// TestLoopRevokeClosesConnections: a new allowlist closes the peers it no
// longer admits, whether idle on the loop or detached mid-request.
func TestLoopRevokeClosesConnections(t *testing.T) {
	srv, port := oneLoopServer(t, 0)
	idle := dialLoopback(t, port)
	textRequest(t, idle, "version\r\n", "")
	detached := dialLoopback(t, port)
	if _, err := io.WriteString(detached, "set half 0 0 10\r\nabc"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)

	srv.SetPeerFilter(func(netip.Addr) (string, bool) { return "", false })
	for name, nc := range map[string]net.Conn{"idle": idle, "detached": detached} {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := nc.Read(make([]byte, 64)); n != 0 || !(errors.Is(err, io.EOF) || isReset(err)) {
			t.Errorf("%s connection after revoke: read %d bytes, %v; want it closed", name, n, err)
		}
	}
	if got := srv.denied.Load(); got != 2 {
		t.Errorf("denied_connections = %d, want 2", got)
	}
}

// TestLoopIdleTimeoutMidRequest: idle_timeout also ends a connection that
// stopped halfway through a data block, as memcached's does.
func TestLoopIdleTimeoutMidRequest(t *testing.T) {
	srv, port := oneLoopServer(t, time.Second)
	nc := dialLoopback(t, port)
	if _, err := io.WriteString(nc, "set half 0 0 10\r\nabc"); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := nc.Read(make([]byte, 64)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want EOF after the idle timeout", n, err)
	}
	if got := srv.idleKicks.Load(); got != 1 {
		t.Errorf("idle_kicks = %d, want 1", got)
	}
}

// TestLoopSparesStayWithTheirHolder: a loop lends one input buffer and one
// set of work buffers to each connection it serves. A connection that
// keeps input past its turn (a partial line, a -R yield) must keep the
// buffer it was lent while the loop serves others on fresh ones.
func TestLoopSparesStayWithTheirHolder(t *testing.T) {
	cfg := oneLoopConfig(t)
	cfg.ReqsPerEvent = 1
	srv := serveTransport(t, cfg, nil)
	port := cfg.Port

	held := dialLoopback(t, port)
	held.SetDeadline(time.Now().Add(10 * time.Second))
	textRequest(t, held, "set partial 0 0 5\r\nlines\r\n", "STORED")
	if _, err := io.WriteString(held, "get part"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the loop reads the partial line alone

	// Two clients pipelining 30 sets and gets each, yielding after every
	// request (-R 1), so their leftovers wait while the other runs.
	errs := make(chan error, 2)
	for n := range 2 {
		nc := dialLoopback(t, port)
		go func() {
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			var req strings.Builder
			for i := range 30 {
				fmt.Fprintf(&req, "set c%d:%d 0 0 %d\r\n%s\r\nget c%d:%d\r\n", n, i, len(fmt.Sprint(i)), fmt.Sprint(i), n, i)
			}
			if _, err := io.WriteString(nc, req.String()); err != nil {
				errs <- err
				return
			}
			r := bufio.NewReader(nc)
			for i := range 30 {
				for _, want := range []string{"STORED", fmt.Sprintf("VALUE c%d:%d 0 %d", n, i, len(fmt.Sprint(i))), fmt.Sprint(i), "END"} {
					line, err := r.ReadString('\n')
					if err != nil || line != want+"\r\n" {
						errs <- fmt.Errorf("client %d, request %d: %q, %v; want %q", n, i, line, err, want)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	roundTrips(t, port, 10)

	// The held connection's buffer is its own, in use; the asking one's
	// is the loop's spare, in use while it asks.
	count, _, free := readBufStats(t, dialLoopback(t, port))
	if inUse := count - free/readBufferSize; inUse != 2 {
		t.Errorf("read_buf_count %d, read_buf_bytes_free %d: %d in use, want 2 (the partial line's and the asker's)", count, free, inUse)
	}
	if got := textRequest(t, held, "ial\r\n", "END"); len(got) != 3 || got[1] != "lines" {
		t.Fatalf("get partial, sent in two pieces around other clients' turns: %q", got)
	}
	if srv.yields.Load() == 0 {
		t.Error("no connection yielded; the test did not interleave turns")
	}
}
