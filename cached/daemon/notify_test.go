package daemon

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listenNotify is the service manager's end: a unixgram socket, by path
// or in the abstract namespace ("@name").
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv(notifySocketEnv, name)
	return c
}

func readDatagram(t *testing.T, c *net.UnixConn, timeout time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notification within %s: %v", timeout, err)
	}
	return string(buf[:n])
}

func TestNotifySocketKinds(t *testing.T) {
	for _, name := range []string{
		filepath.Join(t.TempDir(), "notify"),
		"@cachectl-notify-test-" + strconv.Itoa(syscall.Getpid()),
	} {
		t.Run(name, func(t *testing.T) {
			c := listenNotify(t, name)
			if err := notify("READY=1"); err != nil {
				t.Fatal(err)
			}
			if got := readDatagram(t, c, 2*time.Second); got != "READY=1" {
				t.Errorf("datagram %q, want READY=1", got)
			}
		})
	}
}

func TestNotifyWithoutAManager(t *testing.T) {
	t.Setenv(notifySocketEnv, "")
	if err := notify("READY=1"); err != nil {
		t.Errorf("notify with no NOTIFY_SOCKET: %v", err)
	}
}

// TestMainNotifiesReadinessAndStop runs the daemon as systemd would run a
// Type=notify service: READY=1 arrives only once the port accepts, and
// SIGTERM brings STOPPING=1 and a clean exit.
func TestMainNotifiesReadinessAndStop(t *testing.T) {
	c := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- Main([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "1", "-m", "8"}, &stderr)
	}()

	ready := readDatagram(t, c, 10*time.Second)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if !strings.HasPrefix(ready, "READY=1\n") || !strings.Contains(ready, "STATUS=serving on "+addr) {
		t.Errorf("readiness datagram %q, want READY=1 and the address", ready)
	}
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("READY=1 sent but %s does not accept: %v", addr, err)
	}
	conn.Close()

	stopWithSIGTERM(t, c, exited, &stderr)
}

// TestMainWithoutListener: -p 0 alone starts as memcached 1.6.18 does,
// writes an empty port file, tells the service manager it is up but
// serving nothing, warns, and still stops cleanly on SIGTERM.
func TestMainWithoutListener(t *testing.T) {
	c := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	ports := filepath.Join(t.TempDir(), "ports")
	t.Setenv(PortFileEnv, ports)
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() { exited <- Main([]string{"-p", "0", "-t", "1", "-m", "8"}, &stderr) }()

	ready := readDatagram(t, c, 10*time.Second)
	if !strings.HasPrefix(ready, "READY=1\n") || !strings.Contains(ready, "STATUS=no listener") {
		t.Errorf("readiness datagram %q, want READY=1 saying there is no listener", ready)
	}
	if b, err := os.ReadFile(ports); err != nil || len(b) != 0 {
		t.Errorf("port file %q, %v; want it written and empty, as memcached's", b, err)
	}
	stopWithSIGTERM(t, c, exited, &stderr)
	if log := stderr.String(); !strings.Contains(log, "level=WARN msg=\"no listener") || !strings.Contains(log, "-p PORT, -U PORT or -s PATH") {
		t.Errorf("no warning that the daemon serves nothing:\n%s", log)
	}
}

// stopWithSIGTERM sends the test process SIGTERM and expects the daemon
// running in it to tell the service manager it is stopping and to exit 0.
func stopWithSIGTERM(t *testing.T, c *net.UnixConn, exited <-chan int, stderr *bytes.Buffer) {
	t.Helper()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := readDatagram(t, c, 10*time.Second); !strings.HasPrefix(got, "STOPPING=1") {
		t.Errorf("datagram after SIGTERM %q, want STOPPING=1", got)
	}
	select {
	case code := <-exited:
		if code != ExitOK {
			t.Errorf("exit status %d after SIGTERM, want %d; stderr:\n%s", code, ExitOK, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon still running 10s after SIGTERM")
	}
}
