package cached

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The warm restart (-e) end to end: the daemon as a process of its own,
// stopped with SIGUSR1 and started again, beside stock memcached.

// shmDir is a directory on tmpfs, where memory files belong.
func shmDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "cachectl-restart-")
	if err != nil {
		t.Skipf("needs /dev/shm (tmpfs) for memory files: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// stopWith signals the daemon and waits, bounded, for it to exit 0.
func (d *daemon) stopWith(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling %s: %v", d.cmd.Path, err)
	}
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s still running 60s after %v", d.cmd.Path, sig)
	}
	if d.err != nil {
		t.Fatalf("%s exited after %v: %v\n%s", d.cmd.Path, sig, d.err, d.log)
	}
}

// metaConn speaks meta commands over one connection, pipelined.
type metaConn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

func dialMeta(t *testing.T, d *daemon) *metaConn {
	nc := d.dial(t)
	nc.SetDeadline(time.Now().Add(5 * time.Minute))
	return &metaConn{nc: nc, r: bufio.NewReaderSize(nc, 1<<20), w: bufio.NewWriterSize(nc, 1<<20)}
}

// line reads one reply line without its CRLF.
func (c *metaConn) line() (string, error) {
	l, err := c.r.ReadString('\n')
	return strings.TrimSuffix(l, "\r\n"), err
}

// item is what the test remembers of a stored item.
type item struct {
	sum   uint64 // FNV-1a of the value
	n     int
	flags string
	cas   string
	ttl   int // remaining seconds when read; -1 = never expires
}

func fnvSum(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// readItems reads keys with `mg key v f c t`, in pipelined batches.
func (c *metaConn) readItems(t *testing.T, keys []string) map[string]item {
	t.Helper()
	out := make(map[string]item, len(keys))
	for start := 0; start < len(keys); start += 200 {
		batch := keys[start:min(start+200, len(keys))]
		for _, k := range batch {
			fmt.Fprintf(c.w, "mg %s v f c t\r\n", k)
		}
		if err := c.w.Flush(); err != nil {
			t.Fatalf("sending reads: %v", err)
		}
		for _, k := range batch {
			if it, ok := c.readItem(t, k); ok {
				out[k] = it
			}
		}
	}
	return out
}

func (c *metaConn) readItem(t *testing.T, key string) (item, bool) {
	l, err := c.line()
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	if l == "EN" {
		return item{}, false
	}
	f := strings.Fields(l)
	if len(f) != 5 || f[0] != "VA" {
		t.Fatalf("mg %s: %q", key, l)
	}
	n, _ := strconv.Atoi(f[1])
	val := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, val); err != nil {
		t.Fatalf("reading the value of %s: %v", key, err)
	}
	ttl, _ := strconv.Atoi(f[4][1:])
	return item{sum: fnvSum(val[:n]), n: n, flags: f[2], cas: f[3], ttl: ttl}, true
}

// valueFor is item i's value: mostly small, every thousandth one larger
// than slab_chunk_max so it spans several chunks.
func valueFor(i int) []byte {
	n := 10 + (i*7919)%2000
	if i%1000 == 7 {
		n = 600<<10 + (i%5)*50<<10
	}
	b := make([]byte, n)
	for j := range b {
		b[j] = byte('a' + (i+j*31)%26)
	}
	return b
}

// fillWorkload stores n items of mixed sizes, some with TTLs and client
// flags, then touches some and increments counters.
func fillWorkload(t *testing.T, c *metaConn, n int) []string {
	t.Helper()
	keys := make([]string, 0, n+1000)
	for start := 0; start < n; start += 200 {
		end := min(start+200, n)
		for i := start; i < end; i++ {
			ttl := 0
			if i%4 == 0 {
				ttl = 1000 + i%500
			}
			v := valueFor(i)
			fmt.Fprintf(c.w, "ms key:%d %d T%d F%d\r\n%s\r\n", i, len(v), ttl, (i%3)*11, v)
			keys = append(keys, fmt.Sprintf("key:%d", i))
		}
		c.expect(t, end-start, "HD")
	}
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(c.w, "touch key:%d %d\r\nset n:%d 0 0 3\r\n100\r\nincr n:%d %d\r\n", i*37, 2000+i, i, i, i)
		keys = append(keys, fmt.Sprintf("n:%d", i))
	}
	for i := 0; i < 1000; i++ {
		c.expect(t, 1, "TOUCHED")
		c.expect(t, 1, "STORED")
		c.expect(t, 1, strconv.Itoa(100+i))
	}
	return keys
}

// expect flushes the pipeline and reads n replies that must equal want.
func (c *metaConn) expect(t *testing.T, n int, want string) {
	t.Helper()
	if err := c.w.Flush(); err != nil {
		t.Fatalf("sending: %v", err)
	}
	for i := 0; i < n; i++ {
		if l, err := c.line(); err != nil || l != want {
			t.Fatalf("reply %q (%v), want %q", l, err, want)
		}
	}
}

// writeUntilClosed stores live:N items one at a time until the daemon
// closes the connection, and returns what it acknowledged: the keys and
// their CAS.
func writeUntilClosed(c *metaConn, started chan<- struct{}) map[string]item {
	acked := map[string]item{}
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
		v := valueFor(i + 7)
		v = v[:min(len(v), 50+i%400)]
		fmt.Fprintf(c.w, "ms live:%d %d c F5\r\n%s\r\n", i, len(v), v)
		if c.w.Flush() != nil {
			break
		}
		l, err := c.line()
		if err != nil || !strings.HasPrefix(l, "HD c") {
			break
		}
		acked[fmt.Sprintf("live:%d", i)] = item{sum: fnvSum(v), n: len(v), flags: "f5", cas: "c" + l[4:], ttl: -1}
		if i == 500 {
			close(started)
		}
	}
	return acked
}

func TestWarmRestartMidWorkload(t *testing.T) {
	file := filepath.Join(shmDir(t), "cache")
	args := []string{"-m", "1024", "-e", file}
	d := startCachectl(t, args...)
	c := dialMeta(t, d)
	const n = 100_000
	keys := fillWorkload(t, c, n)
	before := c.readItems(t, keys)
	readAt := time.Now()
	if len(before) != len(keys) {
		t.Fatalf("%d of %d items readable before the restart", len(before), len(keys))
	}

	started := make(chan struct{})
	ackc := make(chan map[string]item, 1)
	writer := dialMeta(t, d)
	go func() { ackc <- writeUntilClosed(writer, started) }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the writer made no progress")
	}
	d.stopWith(t, syscall.SIGUSR1)
	acked := <-ackc
	if !strings.Contains(d.log.String(), "item memory saved for a warm restart") {
		t.Fatalf("no save logged:\n%s", d.log)
	}

	d2 := startCachectl(t, args...)
	t.Log(strings.TrimSpace(d2.waitLog(t, "warm restart")))
	c2 := dialMeta(t, d2)
	after := c2.readItems(t, keys)
	elapsed := int(time.Since(readAt).Round(time.Second) / time.Second)
	for _, k := range keys {
		b, a := before[k], after[k]
		wantTTL := b.ttl
		if b.ttl >= 0 {
			wantTTL -= elapsed
		}
		if a.sum != b.sum || a.n != b.n || a.flags != b.flags || a.cas != b.cas || a.ttl < wantTTL-2 || a.ttl > wantTTL+2 {
			t.Fatalf("%s after restart: %+v, before: %+v (ttl expected %d±2)", k, a, b, wantTTL)
		}
	}
	liveKeys := make([]string, 0, len(acked))
	for k := range acked {
		liveKeys = append(liveKeys, k)
	}
	live := c2.readItems(t, liveKeys)
	for k, w := range acked {
		if g := live[k]; g != w {
			t.Fatalf("acknowledged %s after restart: %+v, want %+v", k, g, w)
		}
	}
	st := textRequest(t, c2.nc, "stats\r\n", "END")
	if got := statValue(st, "curr_items"); got != strconv.Itoa(len(keys)+len(live)) &&
		got != strconv.Itoa(len(keys)+len(live)+1) { // the write in flight at the stop may have landed
		t.Errorf("curr_items %s after restart, want %d", got, len(keys)+len(live))
	}
	set := textRequest(t, c2.nc, "stats settings\r\n", "END")
	if got := statValue(set, "memory_file"); got != file {
		t.Errorf("stats settings memory_file %q, want %q", got, file)
	}
	t.Logf("%d items and %d written during the stop kept across the restart", len(keys), len(acked))
}

// restartLines are the "[restart]" messages in a daemon's log, as memcached
// prints them; cachectl's log carries the same text inside its log lines.
func restartLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "[restart] "); i >= 0 {
			out = append(out, strings.TrimSuffix(strings.TrimSuffix(l[i:], `"`), "\r"))
		}
	}
	return out
}

// TestWarmRestartBesideMemcached runs the same stop and restart sequence
// against stock memcached 1.6.18 and cachectl, each with -e on tmpfs, and
// compares what survives and the restart messages step by step.
func TestWarmRestartBesideMemcached(t *testing.T) {
	steps := []struct {
		name string
		args []string
		stop syscall.Signal
		warm bool // the key stored before survives
	}{
		{"first start", []string{"-m", "64"}, syscall.SIGUSR1, false},
		{"same settings", []string{"-m", "64"}, syscall.SIGUSR1, true},
		{"memory limit changed", []string{"-m", "48"}, syscall.SIGTERM, false},
		{"after a stop without save", []string{"-m", "48"}, syscall.SIGUSR1, false},
		{"growth factor changed", []string{"-m", "48", "-f", "1.5"}, syscall.SIGTERM, false},
	}
	servers := map[string]func(*testing.T, ...string) *daemon{
		"memcached": func(t *testing.T, a ...string) *daemon { return startMemcached(t, a...) },
		"cachectl":  func(t *testing.T, a ...string) *daemon { return startCachectl(t, a...) },
	}
	logs := map[string][][]string{}
	for _, name := range []string{"memcached", "cachectl"} {
		file := filepath.Join(shmDir(t), "cache")
		for i, st := range steps {
			if name == "memcached" {
				// memcached refuses a restart within the second it
				// stopped; cachectl does not, which this sequence shows.
				time.Sleep(1100 * time.Millisecond)
			}
			d := servers[name](t, append([]string{"-e", file}, st.args...)...)
			nc := d.dial(t)
			got := textRequest(t, nc, "get kept\r\n", "END")
			if survived := len(got) > 1; survived != st.warm {
				t.Fatalf("%s, %s: the stored key survived: %v, want %v\n%s", name, st.name, survived, st.warm, d.log)
			}
			textRequest(t, nc, fmt.Sprintf("set kept 3 0 %d\r\nrun%d\r\n", len(fmt.Sprint("run", i)), i), "STORED")
			d.stopWith(t, st.stop)
			logs[name] = append(logs[name], restartLines(d.log.String()))
		}
	}
	for i, st := range steps {
		if mc, us := logs["memcached"][i], logs["cachectl"][i]; !slices.Equal(mc, us) {
			t.Errorf("%s: memcached says %q; cachectl said %q", st.name, mc, us)
		}
	}
}

// TestWarmRestartDamagedMetadata: on a metadata file it cannot read the
// daemon refuses to start, as memcached aborts, saying why and what to do;
// the file is left for the operator.
func TestWarmRestartDamagedMetadata(t *testing.T) {
	for _, tc := range []struct {
		name, meta, want string
	}{
		{"garbage", "not a metadata file\n", "[restart] corrupt metadata file"},
		{"memcached's", "Tmain\nKmaxbytes 67108864\n", "[restart] internal handler for metadata tag not found: main:"},
		{"truncated", "Tcachectl\nKslab_config 1.25\nKmaxbytes 6710", "[restart] missing some metadata lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(shmDir(t), "cache")
			d := startCachectl(t, "-e", file)
			textRequest(t, d.dial(t), "set k 0 0 1\r\nx\r\n", "STORED")
			d.stopWith(t, syscall.SIGUSR1)
			if err := os.WriteFile(file+".meta", []byte(tc.meta), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(testBinary(t), "-l", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-e", file)
			cmd.Env = append(os.Environ(), DaemonEnv+"=1")
			out, err := runBounded(t, cmd)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(out, tc.want) ||
				!strings.Contains(out, "move it away to start with an empty cache") {
				t.Fatalf("start on a damaged metadata file: %v, %q; want a failed start naming %q", err, out, tc.want)
			}
			if _, err := os.Stat(file + ".meta"); err != nil {
				t.Fatalf("the damaged metadata file is gone: %v", err)
			}
		})
	}
}

// TestShutdownGracefulSaves: memcached's `shutdown graceful` (with -A) is
// its SIGUSR1, and saves with -e; plain `shutdown` does not.
func TestShutdownGracefulSaves(t *testing.T) {
	for _, name := range []string{"memcached", "cachectl"} {
		for _, tc := range []struct {
			cmd  string
			warm bool
		}{{"shutdown graceful", true}, {"shutdown", false}} {
			t.Run(name+"/"+tc.cmd, func(t *testing.T) {
				start := startCachectl
				if name == "memcached" {
					start = startMemcached
				}
				file := filepath.Join(shmDir(t), "cache")
				d := start(t, "-A", "-e", file)
				nc := d.dial(t)
				textRequest(t, nc, "set k 0 0 1\r\nx\r\n", "STORED")
				nc.Write([]byte(tc.cmd + "\r\n"))
				select {
				case <-d.done:
				case <-time.After(30 * time.Second):
					t.Fatalf("still running 30s after %q", tc.cmd)
				}
				if name == "memcached" {
					time.Sleep(1100 * time.Millisecond) // it refuses a restart within the second
				}
				d2 := start(t, "-A", "-e", file)
				got := textRequest(t, d2.dial(t), "get k\r\n", "END")
				if warm := len(got) == 3; warm != tc.warm {
					t.Fatalf("after %q the item survived: %v, want %v\n%s", tc.cmd, warm, tc.warm, d.log)
				}
			})
		}
	}
}
