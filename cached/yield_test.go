package cached

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// conn_yields after one write of k pipelined gets, beside memcached: with
// -R r a connection runs r requests, then yields while input is buffered.
func TestConnYieldsMatchMemcached(t *testing.T) {
	for _, r := range []int{2, 3} {
		mc := startMemcached(t, "-t", "1", "-R", strconv.Itoa(r))
		cc := startCachectl(t, "-t", "1", "-R", strconv.Itoa(r))
		for _, k := range []int{1, r, r + 1, 10, 31} {
			want := pipelinedYields(t, mc, k)
			got := pipelinedYields(t, cc, k)
			if got != want {
				t.Errorf("-R %d, %d pipelined gets: conn_yields grew by %d, memcached's by %d", r, k, got, want)
			}
			if limit := (k - 1) / r; got != limit {
				t.Errorf("-R %d, %d pipelined gets: %d yields, want %d", r, k, got, limit)
			}
		}
	}
}

// With -R 1 every request after the first in a pipeline is a yield, and
// the answers still come back complete and in order.
func TestConnYieldsOnePerRequest(t *testing.T) {
	cc := startCachectl(t, "-t", "1", "-R", "1")
	if got := pipelinedYields(t, cc, 50); got != 49 {
		t.Errorf("-R 1, 50 pipelined gets: %d yields, want 49", got)
	}
	// A yielded connection must not wait for more input to run what it
	// already holds.
	nc := cc.dial(t)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	var req strings.Builder
	for i := range 20 {
		req.WriteString("set k" + strconv.Itoa(i) + " 0 0 1\r\nx\r\n")
	}
	req.WriteString("mn\r\n")
	if _, err := nc.Write([]byte(req.String())); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(nc)
	for i := range 21 {
		line, err := r.ReadString('\n')
		want := "STORED\r\n"
		if i == 20 {
			want = "MN\r\n"
		}
		if err != nil || line != want {
			t.Fatalf("reply %d: %q, %v; want %q", i, line, err, want)
		}
	}
}

// pipelinedYields sends k gets in one write and returns how much
// conn_yields grew, read on a connection of its own.
func pipelinedYields(t *testing.T, d *daemon, k int) int {
	t.Helper()
	before := yieldsNow(t, d)
	nc := d.dial(t)
	if _, err := nc.Write([]byte(strings.Repeat("get nothere\r\n", k))); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(nc)
	for range k {
		if line, err := r.ReadString('\n'); err != nil || line != "END\r\n" {
			t.Fatalf("%s: reply %q, %v", d.addr, line, err)
		}
	}
	nc.Close()
	return yieldsNow(t, d) - before
}

// yieldsNow reads conn_yields; a lone stats request is within any -R of 2
// or more, so asking does not itself yield.
func yieldsNow(t *testing.T, d *daemon) int {
	t.Helper()
	nc, err := net.DialTimeout("tcp", d.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	n, err := strconv.Atoi(statValue(textRequest(t, nc, "stats\r\n", "END"), "conn_yields"))
	if err != nil {
		t.Fatalf("%s: conn_yields: %v", d.addr, err)
	}
	return n
}
