package cached

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// The end-to-end tests run this daemon as a process of its own (the test
// binary re-executed, see TestMain in main_test.go) and stock memcached side
// by side on loopback ports.

// DaemonEnv, set in a process's environment, makes this package's test
// binary run the daemon on its arguments instead of the tests.
const DaemonEnv = "CACHED_TEST_RUN_DAEMON"

// daemon is a server process started by a test.
type daemon struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *daemonLog
}

// daemonLog collects a server's output. exec copies it from the pipes on
// goroutines of its own, so reads take the lock the writes take.
type daemonLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *daemonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *daemonLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog returns the server's output once it holds want, waiting up to
// 5 s: a line written before the server answered may still be in the
// pipe when the test reads.
func (d *daemon) waitLog(t testing.TB, want string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		out := d.log.String()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never logged %q:\n%s", d.cmd.Path, want, out)
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startCachectl runs the daemon, as `cachectl serve` would with these
// flags, in a process of its own on a free loopback port.
func startCachectl(t testing.TB, args ...string) *daemon {
	t.Helper()
	self := testBinary(t)
	return startDaemon(t, func(port int) *exec.Cmd {
		cmd := exec.Command(self, append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...)
		cmd.Env = append(os.Environ(), DaemonEnv+"=1")
		return cmd
	})
}

// startCachectlSized is startCachectl with items placed and counted by
// memcached's item size (-o memcached_item_sizes), for the tests that
// compare sizes, classes or page counts with memcached's byte for byte.
func startCachectlSized(t testing.TB, args ...string) *daemon {
	t.Helper()
	return startCachectl(t, append(args, "-o", "memcached_item_sizes")...)
}

// memcachedPath finds stock memcached 1.6.18, the server every comparison
// test measures the daemon against. It must be installed under CI (make
// test installs it); elsewhere nstest decides whether its absence skips.
func memcachedPath(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("memcached")
	if err != nil {
		nstest.Unavailable(t, "needs memcached (the reference server) on PATH; make deps installs it")
	}
	return path
}

// testBinary is this test binary, which runs as the daemon when started
// with DaemonEnv set (see TestMain).
func testBinary(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary to run the daemon: %v", err)
	}
	return self
}

// startMemcached runs stock memcached 1.6.18 in the foreground on a free
// loopback port.
func startMemcached(t testing.TB, args ...string) *daemon {
	t.Helper()
	path := memcachedPath(t)
	return startDaemon(t, func(port int) *exec.Cmd {
		a := append([]string{"-U", "0", "-l", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)
		if os.Geteuid() == 0 {
			a = append(a, "-u", "root")
		}
		return exec.Command(path, a...)
	})
}

func startDaemon(t testing.TB, mk func(port int) *exec.Cmd) *daemon {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		d := &daemon{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{}), log: &daemonLog{}}
		d.cmd = mk(port)
		d.cmd.Stdout = d.log
		d.cmd.Stderr = d.log
		if err := d.cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", d.cmd.Path, err)
		}
		go func() { d.err = d.cmd.Wait(); close(d.done) }()
		if lastErr = d.waitReady(); lastErr == nil {
			t.Cleanup(d.stop)
			return d
		}
		d.stop()
	}
	t.Fatalf("server did not start: %v", lastErr)
	return nil
}

// waitReady polls until the server answers `version`, bounded to 10s.
func (d *daemon) waitReady() error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("%s exited: %v\n%s", d.cmd.Path, d.err, d.log)
		default:
		}
		c, err := net.DialTimeout("tcp", d.addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			fmt.Fprintf(c, "version\r\n")
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "VERSION ") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not answering on %s after 10s", d.cmd.Path, d.addr)
}

func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// dial connects to a daemon with a generous deadline for the whole exchange.
func (d *daemon) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", d.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", d.addr, err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}
