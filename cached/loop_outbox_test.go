package cached

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// outboxServer is a one-loop server with the given -R that queues the
// replies of every round.
func outboxServer(t *testing.T, reqsPerEvent int) (*Server, int) {
	t.Helper()
	cfg := oneLoopConfig(t)
	cfg.ReqsPerEvent = reqsPerEvent
	cfg.batchFrom = 1 // queue in every round, however few are ready
	return serveTransport(t, cfg, nil), cfg.Port
}

// readReplies reads n replies to "get kI" (I from first up) from r, each
// "VALUE kI 0 len\r\n<value>\r\nEND\r\n", and checks their order and bytes.
func readReplies(r *bufio.Reader, first, n int, value func(int) string) error {
	for i := first; i < first+n; i++ {
		v := value(i)
		want := fmt.Sprintf("VALUE k%d 0 %d\r\n%s\r\nEND\r\n", i, len(v), v)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(r, got); err != nil {
			return fmt.Errorf("reply to get k%d: %w", i, err)
		}
		if string(got) != want {
			return fmt.Errorf("reply to get k%d: got %.60q..., want %.60q...", i, got, want)
		}
	}
	return nil
}

// TestOutboxRepliesBeforeABlockingRead: replies a turn queued go out
// before the connection waits for the rest of a data block. A client that
// waits for them before it sends the rest of the block (as a pipelining
// client may) would otherwise wait forever.
func TestOutboxRepliesBeforeABlockingRead(t *testing.T) {
	// No -R limit, so one turn reads the pipeline in several buffers'
	// worth and queues the first ones' replies.
	_, port := outboxServer(t, 1<<20)
	nc := dialLoopback(t, port)
	// Exactly one input buffer of 16-byte gets: the first read's replies
	// are queued, and the second read holds only the set, so nothing new
	// is pending when the connection blocks for the rest of its block.
	const gets = readBufferSize / 16
	req := strings.Repeat("get 000000000a\r\n", gets) + "set late 0 0 10\r\nabc"
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(nc)
	for i := range gets {
		line, err := r.ReadString('\n')
		if err != nil || line != "END\r\n" {
			t.Fatalf("reply %d: %q, %v", i, line, err)
		}
	}
	if _, err := io.WriteString(nc, "defghij\r\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "STORED\r\n" {
		t.Fatalf("set late: %q, %v", line, err)
	}
}

// TestOutboxSlowReader: one-request turns queue replies for a client that
// reads none of them; once its socket is full the end of a round cannot
// write them whole, the connection is drained by a goroutine of its own,
// the loop goes on serving others, and the client later gets every reply
// in order and can go on.
func TestOutboxSlowReader(t *testing.T) {
	srv, port := outboxServer(t, 1)
	value := func(i int) string { return fmt.Sprintf("%06d", i) + strings.Repeat("v", 10<<10) }
	const keys = 400 // 4 MB of replies: far over the socket buffers
	setup := dialLoopback(t, port)
	for i := range keys {
		v := value(i)
		textRequest(t, setup, fmt.Sprintf("set k%d 0 0 %d\r\n%s\r\n", i, len(v), v), "STORED")
	}
	before := srv.detaches.Load()
	slow := dialLoopback(t, port)
	var req strings.Builder
	for i := range keys {
		fmt.Fprintf(&req, "get k%d\r\n", i)
	}
	if _, err := io.WriteString(slow, req.String()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the replies fill the socket buffers

	roundTrips(t, port, 50)
	if srv.detaches.Load() == before {
		t.Error("the connection whose queued reply did not fit was never drained off the loop")
	}
	slow.SetDeadline(time.Now().Add(30 * time.Second))
	if err := readReplies(bufio.NewReaderSize(slow, 64<<10), 0, keys, value); err != nil {
		t.Fatal(err)
	}
	textRequest(t, slow, "version\r\n", "")
}

// TestOutboxRepliesBeforeClose: the replies queued before quit, or before
// the client's end of stream, reach the client before the close.
func TestOutboxRepliesBeforeClose(t *testing.T) {
	_, port := outboxServer(t, 20)
	for _, tc := range []struct {
		name, req string
		halfClose bool
	}{
		{"quit", "get a\r\nget b\r\nquit\r\n", false},
		{"end of stream", "get a\r\nget b\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := dialLoopback(t, port)
			if _, err := io.WriteString(nc, tc.req); err != nil {
				t.Fatal(err)
			}
			if tc.halfClose {
				nc.(*net.TCPConn).CloseWrite()
			}
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(nc)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "END\r\nEND\r\n" {
				t.Fatalf("got %q, want both replies, then the close", got)
			}
		})
	}
}

// TestOutboxManyClientsInOrder: many clients pipelining on one loop each
// get their own replies, whole and in order, however the rounds queue
// them.
func TestOutboxManyClientsInOrder(t *testing.T) {
	_, port := outboxServer(t, 4)
	value := func(i int) string { return fmt.Sprintf("value-%d-", i) + strings.Repeat("x", i%700) }
	const keys = 300
	setup := dialLoopback(t, port)
	for i := range keys {
		v := value(i)
		textRequest(t, setup, fmt.Sprintf("set k%d 0 0 %d\r\n%s\r\n", i, len(v), v), "STORED")
	}
	const clients = 40
	errs := make(chan error, clients)
	for c := range clients {
		go func() {
			nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			r := bufio.NewReader(nc)
			for round := range 5 {
				first := (c*7 + round*31) % (keys - 50)
				var req strings.Builder
				for i := first; i < first+50; i++ {
					fmt.Fprintf(&req, "get k%d\r\n", i)
				}
				if _, err := io.WriteString(nc, req.String()); err != nil {
					errs <- err
					return
				}
				if err := readReplies(r, first, 50, value); err != nil {
					errs <- fmt.Errorf("client %d: %w", c, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
