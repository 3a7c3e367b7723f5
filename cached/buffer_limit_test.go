package cached

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestReadBufOOMAsMemcached: under read_buf_mem_limit, connections holding
// half a request each keep their read buffers; once all are taken, the
// next connection to send anything is closed and counted in read_buf_oom,
// on both servers. (The multi-get side is the read_buf_limit transcript.)
func TestReadBufOOMAsMemcached(t *testing.T) {
	for name, start := range map[string]func(testing.TB, ...string) *daemon{"memcached": startMemcached, "cachectl": startCachectl} {
		t.Run(name, func(t *testing.T) {
			d := start(t, "-t", "1", "-o", "read_buf_mem_limit=1")
			// 1 MB is 64 buffers of 16 KB; the thread keeps one for its
			// replies once it has answered (the harness's version).
			var held []net.Conn
			for i := 0; i < 63; i++ {
				c := d.dial(t)
				if _, err := c.Write([]byte("get abc")); err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
			}
			time.Sleep(200 * time.Millisecond)
			c := d.dial(t)
			fmt.Fprint(c, "version\r\n")
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if got, err := io.ReadAll(c); len(got) > 0 || (err != nil && !isReset(err)) {
				t.Fatalf("a connection past the limit: got %q (err %v), want it closed", got, err)
			}
			for _, h := range held[:3] {
				h.Close()
			}
			time.Sleep(200 * time.Millisecond)
			st := newStatsClient(t, d).stats(t, "")
			if st["read_buf_oom"] != "1" || st["response_obj_oom"] != "0" {
				t.Errorf("read_buf_oom %s, response_obj_oom %s; want 1, 0", st["read_buf_oom"], st["response_obj_oom"])
			}
		})
	}
}

// TestStackedRepliesOOMAsMemcached: pipelined requests whose replies are
// not yet written each hold a response object; when the thread's share
// runs out memcached closes the connection without sending any of them.
// With -t 32 a 1 MB limit leaves two 16 KB buffers per thread: the read
// buffer and 13 response objects.
func TestStackedRepliesOOMAsMemcached(t *testing.T) {
	for _, tc := range []struct {
		name     string
		requests int
		closed   bool
	}{
		{"under", 13, false},
		{"over", 14, true},
		{"far over", 500, true},
	} {
		for name, start := range map[string]func(testing.TB, ...string) *daemon{"memcached": startMemcached, "cachectl": startCachectl} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				d := start(t, "-t", "32", "-R", "500", "-o", "read_buf_mem_limit=1")
				c := d.dial(t)
				defer c.Close()
				var req []byte
				for range tc.requests {
					req = append(req, "mg foo v\r\n"...)
				}
				if _, err := c.Write(req); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 64<<10)
				n, err := io.ReadAtLeast(c, buf, 3*tc.requests)
				switch {
				case tc.closed && (n > 0 || (err != io.EOF && !isReset(err))):
					t.Fatalf("got %q (err %v), want the connection closed with nothing sent", buf[:n], err)
				case !tc.closed && err != nil:
					t.Fatalf("got %q (err %v), want %d EN replies", buf[:n], err, tc.requests)
				}
				want := "0"
				if tc.closed {
					want = "1"
				}
				if got := newStatsClient(t, d).stats(t, "")["response_obj_oom"]; got != want {
					t.Errorf("response_obj_oom %s, want %s", got, want)
				}
			})
		}
	}
}
