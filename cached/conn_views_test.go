package cached

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// Large values leave the slab by writev; every byte must arrive in order
// around the VALUE lines, and every pin must be let go once written, on a
// refused multi-get and on a connection closed mid-reply too.
func TestViewsOnTheWire(t *testing.T) {
	srv, addr := startInProcess(t, nil)
	nc := dial(t, addr)
	r := bufio.NewReader(nc)
	vals := map[string][]byte{}
	for i, n := range []int{1023, 1024, 5000, 100_000, 3} {
		k := fmt.Sprint("k", i)
		vals[k] = bytes.Repeat([]byte{byte('a' + i)}, n)
		fmt.Fprintf(nc, "set %s %d 0 %d\r\n%s\r\n", k, i, n, vals[k])
		expectLine(t, r, "STORED")
	}
	var want bytes.Buffer
	var keys []string
	for i := range 150 { // past maxViews: the reply goes out in parts
		k := fmt.Sprint("k", i%5)
		keys = append(keys, k)
		fmt.Fprintf(&want, "VALUE %s %d %d\r\n%s\r\n", k, i%5, len(vals[k]), vals[k])
	}
	want.WriteString("END\r\n")
	fmt.Fprintf(nc, "get %s\r\n", strings.Join(keys, " "))
	got := make([]byte, want.Len())
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("multi-get reply differs (%d bytes)", len(got))
	}

	// A bad key in the middle refuses the get after the hits before it.
	fmt.Fprintf(nc, "get k1 k2 %s k2\r\n", strings.Repeat("x", 251))
	expectLine(t, r, "CLIENT_ERROR bad command line format")
	waitUnpinned(t, srv)

	// A client that stops reading: the daemon blocks in writev with items
	// pinned, and lets them go when the client goes.
	slow := dial(t, addr)
	fmt.Fprintf(slow, "get %s\r\n", strings.Repeat("k3 ", 200))
	time.Sleep(200 * time.Millisecond)
	slow.Close()
	waitUnpinned(t, srv)
}

func expectLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil || line != want+"\r\n" {
		t.Fatalf("got %q, %v; want %q", line, err, want)
	}
}

func waitUnpinned(t *testing.T, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Store().Pinned() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d items still pinned", srv.Store().Pinned())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
