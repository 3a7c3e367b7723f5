package cached

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// logLine is one watch line split into its fields; ts and gid are checked
// for shape and dropped, descriptors and ports differ between servers.
type logLine map[string]string

var logPrefix = regexp.MustCompile(`^ts=\d+\.\d{1,6} gid=\d+ type=`)

func parseLogLine(t *testing.T, line string) logLine {
	t.Helper()
	if !logPrefix.MatchString(line) {
		t.Fatalf("log line %q does not start with ts=... gid=... type=", line)
	}
	f := logLine{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	delete(f, "ts")
	delete(f, "gid")
	return f
}

func (f logLine) String() string {
	var b strings.Builder
	for _, k := range []string{"type", "key", "status", "cmd", "ttl", "clsid", "size", "fetch", "rip", "transport", "reason"} {
		if v, ok := f[k]; ok {
			b.WriteString(k + "=" + v + " ")
		}
	}
	return strings.TrimSpace(b.String())
}

// watchRun starts a watcher on d, runs script on a second connection,
// closes it, and returns the watch lines up to its conn_close.
func watchRun(t *testing.T, addr string, streams string, setup, script []string) []logLine {
	t.Helper()
	prep := dial(t, addr)
	for _, r := range setup {
		prep.Write([]byte(r))
	}
	textRequest(t, prep, "mn\r\n", "MN")
	w := startWatch(t, addr, streams+" connevents")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port)
	for _, r := range script {
		c.Write([]byte(r))
	}
	textRequest(t, c, "mn\r\n", "MN")
	c.Close()
	r := bufio.NewReader(w)
	var lines []logLine
	w.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: reading watch lines: %v (so far %v)", addr, err, lines)
		}
		l := parseLogLine(t, strings.TrimSuffix(s, "\n"))
		if rport, ok := l["rport"]; ok && rport != port {
			continue // another connection's event, such as the start-up probe's late close
		}
		lines = append(lines, l)
		if l["type"] == "conn_close" {
			return lines
		}
	}
}

func only(lines []logLine, typ string) []string {
	var out []string
	for _, l := range lines {
		if l["type"] == typ {
			out = append(out, l.String())
		}
	}
	return out
}

var watchSetup = []string{"set a:b 0 0 3\r\nabc\r\n", "set n 0 0 1\r\n5\r\n", "set gone 0 1 1\r\nx\r\n"}

// Reads: item_get lines field by field beside memcached's, with
// connection events around them.
func TestWatchFetchersMatchMemcached(t *testing.T) {
	reads := []string{"get a:b nope\r\n", "gets n\r\n", "gat 100 n\r\n", "mg a:b v\r\n", "mg nope v\r\n", "get a%b\r\n"}
	mc := startMemcached(t)
	cc := startCachectl(t)
	want := watchRun(t, mc.addr, "fetchers connevents", watchSetup, reads)
	got := watchRun(t, cc.addr, "fetchers connevents", watchSetup, reads)
	for _, typ := range []string{"item_get", "conn_new", "conn_close"} {
		if g, w := strings.Join(only(got, typ), "\n"), strings.Join(only(want, typ), "\n"); g != w {
			t.Errorf("%s lines:\n%s\nmemcached's:\n%s", typ, g, w)
		}
	}
	if len(only(want, "item_get")) < 6 {
		t.Errorf("memcached logged too few reads to prove anything: %v", want)
	}
}

// Stores: item_store lines beside memcached's.
func TestWatchMutationsMatchMemcached(t *testing.T) {
	writes := []string{"set a:b 0 0 3\r\nabc\r\n", "add a:b 0 100 1\r\nx\r\n", "append zz 0 0 1\r\nx\r\n",
		"set n 0 0 1\r\n5\r\n", "replace n 0 3600 2\r\n66\r\n", "prepend n 0 0 1\r\n1\r\n", "cas n 0 0 1 999\r\n1\r\n",
		"ms m 2 T50\r\nhi\r\n", "ms m 2 ME\r\nhi\r\n"}
	mc := startMemcached(t)
	cc := startCachectl(t)
	want := only(watchRun(t, mc.addr, "mutations", nil, writes), "item_store")
	got := only(watchRun(t, cc.addr, "mutations", nil, writes), "item_store")
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("item_store lines:\n%s\nmemcached's:\n%s", g, w)
	}
	if len(want) != len(writes) {
		t.Errorf("memcached logged %d stores for %d writes", len(want), len(writes))
	}
}

// The lookup a store, delete, incr, decr or touch makes is an item_get line
// in memcached's log, before the item_store; watchers that match a store
// with its lookup (memcached's t/watcher.t) see the same here.
func TestWatchWriteLookupsMatchMemcached(t *testing.T) {
	writes := []string{"set a:b 0 0 3\r\nabc\r\n", "set a:b 0 0 2\r\nxy\r\n", "add zz 0 0 1\r\nx\r\n",
		"ms m 2\r\nhi\r\n", "incr n 1\r\n", "decr nope 1\r\n", "touch a:b 100\r\n", "delete a:b\r\n",
		"delete a:b\r\n", "set gone 0 0 1\r\nx\r\n", "md gone\r\n", "md nope q\r\n", "ma n\r\n", "ma nope MD\r\n"}
	mc := startMemcached(t)
	cc := startCachectl(t)
	lines := func(addr string) string {
		var out []string
		for _, l := range watchRun(t, addr, "fetchers mutations", watchSetup, writes) {
			if l["type"] == "item_get" || l["type"] == "item_store" {
				out = append(out, l.String())
			}
		}
		return strings.Join(out, "\n")
	}
	want, got := lines(mc.addr), lines(cc.addr)
	if got != want {
		t.Errorf("lines:\n%s\nmemcached's:\n%s", got, want)
	}
	if strings.Count(want, "item_get") < len(writes) {
		t.Errorf("memcached logged too few lookups to prove anything:\n%s", want)
	}
}

// The command's refusals, beside memcached's.
func TestWatchRefusalsMatchMemcached(t *testing.T) {
	cases := []struct {
		args []string
		req  string
	}{
		{nil, "watch deletions\r\n"},
		{nil, "watch fetchers bogus\r\n"},
		{nil, "version\r\nwatch\r\n"},
		{[]string{"-W"}, "watch\r\n"},
	}
	for _, tc := range cases {
		mc := startMemcached(t, tc.args...)
		cc := startCachectl(t, tc.args...)
		want := textRequest(t, mc.dial(t), tc.req+"mn\r\n", "MN")
		got := textRequest(t, cc.dial(t), tc.req+"mn\r\n", "MN")
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%v %q: %q, memcached %q", tc.args, tc.req, got, want)
		}
	}
}

// A peer the allowlist refuses shows as a conn_close line with
// reason=denied and its address; the log_* stats count the lines.
func TestWatchShowsDeniedPeers(t *testing.T) {
	srv, addr := startInProcess(t, nil)
	srv.SetPeerFilter(func(a netip.Addr) (string, bool) { return "loopback", a == netip.MustParseAddr("127.0.0.1") })
	w := startWatch(t, addr, "connevents")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	port := nc.LocalAddr().(*net.TCPAddr).Port
	nc.Close()
	w.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(w).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	f := parseLogLine(t, strings.TrimSuffix(line, "\n"))
	want := logLine{"type": "conn_close", "rip": "127.0.0.2", "transport": "tcp", "reason": "denied"}
	if f.String() != want.String() || f["rport"] != strconv.Itoa(port) || f["cfd"] == "" {
		t.Errorf("denied peer's line %q, want %s rport=%d cfd=...", line, want, port)
	}
	// Two lines: the denied peer, and the stats connection's conn_new,
	// which the logger goroutine may still be passing on.
	wantStats := map[string]string{"log_watchers": "1", "log_worker_written": "2", "log_watcher_sent": "2", "log_worker_dropped": "0"}
	sc := dial(t, addr)
	var stats []string
	for range 100 {
		stats = textRequest(t, sc, "stats\r\n", "END")
		if statValue(stats, "log_watcher_sent") == "2" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, v := range wantStats {
		if got := statValue(stats, name); got != v {
			t.Errorf("%s = %s, want %s", name, got, v)
		}
	}
}

// With a worker buffer too small to hold an event, events are dropped
// and counted, and the watcher is never blocked on.
func TestWatchDropsWhenBufferFull(t *testing.T) {
	_, addr := startInProcess(t, func(c *Config) { c.WorkerLogBuf = 512 })
	startWatch(t, addr, "fetchers")
	c := dial(t, addr)
	textRequest(t, c, strings.Repeat("get k\r\n", 10)+"mn\r\n", "MN")
	stats := textRequest(t, c, "stats\r\n", "END")
	if statValue(stats, "log_worker_dropped") != "10" || statValue(stats, "log_worker_written") != "0" {
		t.Errorf("dropped %s written %s, want 10 and 0", statValue(stats, "log_worker_dropped"), statValue(stats, "log_worker_written"))
	}
}

// startWatch opens a watcher and reads its OK byte for byte: the log
// lines may follow in the same segment.
func startWatch(t *testing.T, addr, streams string) net.Conn {
	t.Helper()
	w := dial(t, addr)
	w.SetDeadline(time.Now().Add(5 * time.Second))
	w.Write([]byte("watch " + streams + "\r\n"))
	var ok [4]byte
	if _, err := io.ReadFull(w, ok[:]); err != nil || string(ok[:]) != "OK\r\n" {
		t.Fatalf("%s: watch answered %q, %v", addr, ok, err)
	}
	return w
}

// A client that speaks HTTP to the cache port is closed for an error, in
// memcached's log as here (t/watcher.t).
func TestWatchHTTPCloseIsError(t *testing.T) {
	for name, start := range map[string]func(testing.TB, ...string) *daemon{"memcached": startMemcached, "cachectl": startCachectl} {
		t.Run(name, func(t *testing.T) {
			d := start(t)
			w := startWatch(t, d.addr, "connevents")
			c := d.dial(t)
			port := strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port)
			fmt.Fprint(c, "GET / HTTP/1.1\r\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c) // until the server closes it
			c.Close()
			r := bufio.NewReader(w)
			w.SetDeadline(time.Now().Add(5 * time.Second))
			for {
				s, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("reading watch lines: %v", err)
				}
				// Other connections' closes (the start-up probe's among them)
				// may be logged after the watcher joins; only this client's counts.
				l := parseLogLine(t, strings.TrimSuffix(s, "\n"))
				if l["type"] == "conn_close" && l["rport"] == port {
					if l["reason"] != "error" {
						t.Fatalf("conn_close reason %q, want error: %s", l["reason"], s)
					}
					return
				}
			}
		})
	}
}

// chunkReader hands out one chunk per Read, as separate packets arrive.
type chunkReader struct {
	chunks [][]byte
	out    strings.Builder
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks = r.chunks[1:]
	return n, nil
}

func (r *chunkReader) Write(p []byte) (int, error) { return r.out.Write(p) }

// TestWatchAfterWrittenNoreplyBatch: a batch of noreply requests leaves
// nothing to write, yet memcached's write point still frees their response
// objects, so a watch in the next packet is not refused as pipelined
// (checked against memcached over TCP). A connection served by its own
// goroutine keeps its work buffers between packets, where this showed.
func TestWatchAfterWrittenNoreplyBatch(t *testing.T) {
	srv, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	rw := &chunkReader{chunks: [][]byte{[]byte("set a 0 0 1 noreply\r\n1\r\n"), []byte("watch\r\n")}}
	newConn(srv, rw).serve()
	// A connection without a socket cannot stream a watch; the point is
	// that it got past the pipeline check.
	if got, want := rw.out.String(), "WATCHER_FAILED failed to add log watcher\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
