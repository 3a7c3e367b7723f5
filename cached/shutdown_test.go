package cached

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestShutdownMidPipeline: SIGTERM while a client has a pipeline in flight
// (its last request only half sent). Every reply the daemon computed is
// delivered whole and in order, the connection is then closed, and the
// daemon exits 0.
func TestShutdownMidPipeline(t *testing.T) {
	d := startCachectl(t)
	c := d.dial(t)
	const n = 200
	var req strings.Builder
	var want []string
	for i := 0; i < n; i++ {
		fmt.Fprintf(&req, "set k%d 0 0 %d\r\n%d\r\nget k%d\r\n", i, len(fmt.Sprint(i)), i, i)
		want = append(want, "STORED", fmt.Sprintf("VALUE k%d 0 %d", i, len(fmt.Sprint(i))), fmt.Sprint(i), "END")
	}
	req.WriteString("set half 0 0 10\r\nabc") // never completed
	if _, err := io.WriteString(c, req.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	first, err := br.ReadString('\n')
	if err != nil || first != "STORED\r\n" {
		t.Fatalf("first reply %q: %v", first, err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil && !isReset(err) {
		t.Fatalf("reading replies after SIGTERM: %v", err)
	}
	got := "STORED\r\n" + string(rest)
	full := strings.Join(want, "\r\n") + "\r\n"
	if !strings.HasPrefix(full, got) || !strings.HasSuffix(got, "END\r\n") {
		t.Fatalf("replies after SIGTERM are not a whole prefix of the expected ones: got %d bytes ending %q", len(got), got[max(0, len(got)-40):])
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon still running 20s after SIGTERM")
	}
	if d.err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", d.err, d.log)
	}
	t.Logf("%d of %d replies delivered before shutdown", strings.Count(got, "END\r\n"), n)
}
