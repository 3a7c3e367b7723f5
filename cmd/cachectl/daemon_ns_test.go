package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

// cachectlBin is the binary the namespace tests run, built once by TestMain:
// a daemon inside a namespace has to be its own process.
var cachectlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cachectl-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cachectlBin = filepath.Join(dir, "cachectl")
	if out, err := exec.Command("go", "build", "-o", cachectlBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building cachectl: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemonProc is cachectl running in the foreground inside a namespace.
type daemonProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // set when done is closed
}

// startCachectl runs cachectl in ns; cleanup kills it if the test did not
// stop it. `ip netns exec` execs the command, so signals reach cachectl.
func startCachectl(t *testing.T, ns *nstest.NS, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{out: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = ns.Command(context.Background(), cachectlBin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting cachectl %s: %v", strings.Join(args, " "), err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("cachectl %s output:\n%s", strings.Join(args, " "), d.out.String())
		}
		removeControlSocket(args)
	})
	return d
}

// removeControlSocket clears the control socket a killed bind left behind
// (one stopped by a signal removes its own).
func removeControlSocket(args []string) {
	if len(args) == 0 || args[0] != "bind" {
		return
	}
	for i, a := range args[:len(args)-1] {
		if a == "--policy" {
			os.Remove(daemon.ControlPath(args[i+1]))
		}
	}
}

// waitOutput waits until the daemon has printed every want.
func (d *daemonProc) waitOutput(t *testing.T, timeout time.Duration, wants ...string) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("daemon output containing %q", wants), func() bool {
		for _, w := range wants {
			if !strings.Contains(d.out.String(), w) {
				return false
			}
		}
		return true
	})
}

// stop sends sig and returns the exit code.
func (d *daemonProc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling cachectl: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("cachectl still running 15s after %v", sig)
	}
	var ee *exec.ExitError
	if errors.As(d.err, &ee) {
		return ee.ExitCode()
	}
	if d.err != nil {
		t.Fatalf("waiting for cachectl: %v", d.err)
	}
	return 0
}

// runCachectl runs one cachectl command in ns to completion.
func runCachectl(t *testing.T, ns *nstest.NS, args ...string) (code int, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := ns.Command(ctx, cachectlBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(b)
	case err != nil:
		t.Fatalf("running cachectl %s: %v", strings.Join(args, " "), err)
	}
	return 0, string(b)
}

func mustCachectl(t *testing.T, ns *nstest.NS, args ...string) string {
	t.Helper()
	code, out := runCachectl(t, ns, args...)
	if code != 0 {
		t.Fatalf("cachectl %s: exit %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// waitFor polls cond every 50ms until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mcConn is a memcached text-protocol client on a connection from a namespace.
type mcConn struct {
	nc net.Conn
	rd *bufio.Reader
}

func dialMC(ns *nstest.NS, addr netip.AddrPort) (*mcConn, error) {
	nc, err := ns.Dial(addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &mcConn{nc: nc, rd: bufio.NewReader(nc)}, nil
}

// call sends req and reads reply lines until one equal to (or, for
// VERSION, starting with) end.
func (c *mcConn) call(req, end string) (string, error) {
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write([]byte(req)); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		line, err := c.rd.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if strings.TrimRight(line, "\r\n") == end || (end == "VERSION" && strings.HasPrefix(line, "VERSION ")) {
			return b.String(), nil
		}
	}
}

// admitted reports whether the daemon serves ns at addr: a version round trip.
func admitted(ns *nstest.NS, addr netip.AddrPort) bool {
	c, err := dialMC(ns, addr)
	if err != nil {
		return false
	}
	defer c.nc.Close()
	_, err = c.call("version\r\n", "VERSION")
	return err == nil
}

// requireDenied checks that the daemon accepts ns's TCP connection and
// closes it without answering.
func requireDenied(t *testing.T, ns *nstest.NS, addr netip.AddrPort) {
	t.Helper()
	c, err := dialMC(ns, addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v (the daemon, not the kernel, should refuse)", addr, ns.Name, err)
	}
	defer c.nc.Close()
	if reply, err := c.call("version\r\n", "VERSION"); err == nil || isTimeout(err) {
		t.Fatalf("peer in %s was not disconnected: reply %q, err %v", ns.Name, reply, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func setGet(t *testing.T, ns *nstest.NS, addr netip.AddrPort, key, val string) {
	t.Helper()
	c, err := dialMC(ns, addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.nc.Close()
	if r, err := c.call(fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", key, len(val), val), "STORED"); err != nil {
		t.Fatalf("set via %s: %q, %v", addr, r, err)
	}
	r, err := c.call("get "+key+"\r\n", "END")
	want := fmt.Sprintf("VALUE %s 0 %d\r\n%s\r\nEND\r\n", key, len(val), val)
	if err != nil || r != want {
		t.Fatalf("get via %s: %q, %v; want %q", addr, r, err, want)
	}
}

// stat reads one of cachectl's own counters (`stats cachectl`: plain
// `stats` has memcached's keys only) through an admitted connection.
func stat(t *testing.T, ns *nstest.NS, addr netip.AddrPort, name string) int {
	t.Helper()
	c, err := dialMC(ns, addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.nc.Close()
	r, err := c.call("stats cachectl\r\n", "END")
	if err != nil {
		t.Fatalf("stats cachectl via %s: %v", addr, err)
	}
	for _, line := range strings.Split(r, "\r\n") {
		if f := strings.Fields(line); len(f) == 3 && f[1] == name {
			n, _ := strconv.Atoi(f[2])
			return n
		}
	}
	t.Fatalf("stats cachectl has no %s:\n%s", name, r)
	return 0
}
