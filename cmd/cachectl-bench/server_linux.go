package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverKind names the two servers under comparison.
type serverKind string

const (
	memcached serverKind = "memcached"
	cachectl  serverKind = "cachectl"
)

// serverSpec is how to start either server with identical settings.
type serverSpec struct {
	Kind      serverKind
	Memcached string // path of memcached
	Cachectl  string // path of bin/cachectl
	MemoryMB  int
	Threads   int
	Env       []string // extra environment (cachectl: GODEBUG=gctrace=1)
	Extra     []string // extra flags after the common ones (soak: -c, -U)
}

// server is one running server process, started fresh for one trial.
type server struct {
	kind   serverKind
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{}
}

// lockedBuffer collects a process's stderr while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<20 {
		return len(p), nil // bounded: gctrace over hours must not eat the box
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running tracks live servers so an interrupt can kill them by PID.
var running = struct {
	sync.Mutex
	m map[*server]struct{}
}{m: map[*server]struct{}{}}

// freePort asks the kernel for an unused loopback port. Another process
// could take it before the server binds; startServer then fails loudly.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s serverSpec) args(port int) (string, []string) {
	p, m, t := strconv.Itoa(port), strconv.Itoa(s.MemoryMB), strconv.Itoa(s.Threads)
	if s.Kind == memcached {
		return s.Memcached, append([]string{"-u", "root", "-l", "127.0.0.1", "-p", p, "-m", m, "-t", t, "-U", "0"}, s.Extra...)
	}
	return s.Cachectl, append([]string{"serve", "-l", "127.0.0.1", "-p", p, "-m", m, "-t", t, "-u", "root"}, s.Extra...)
}

// startServer starts the server on a free loopback port and waits until
// it answers "version".
func startServer(spec serverSpec) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("finding a free loopback port: %w", err)
	}
	path, args := spec.args(port)
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	s := &server{kind: spec.Kind, cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout = s.stderr
	cmd.Stderr = s.stderr
	// Own process group, so a terminal's Ctrl-C reaches us, not the
	// server; we kill it ourselves, by PID.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.Kind, err)
	}
	go func() { cmd.Wait(); close(s.done) }()
	running.Lock()
	running.m[s] = struct{}{}
	running.Unlock()
	if err := s.waitReady(10 * time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s %s: %w; output: %s", path, strings.Join(args, " "), err, clipString(s.stderr.String()))
	}
	return s, nil
}

func (s *server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("exited before answering")
		default:
		}
		if nc, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			nc.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = io.WriteString(nc, "version\r\n")
			var line string
			if err == nil {
				line, err = bufio.NewReader(nc).ReadString('\n')
			}
			nc.Close()
			if err == nil && strings.HasPrefix(line, "VERSION ") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("did not answer version within %s", limit)
}

// stop kills the server by PID (SIGTERM, then SIGKILL) and reaps it.
func (s *server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(3 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	running.Lock()
	delete(running.m, s)
	running.Unlock()
}

// killAll kills every server still running; the interrupt handler's job.
func killAll() {
	running.Lock()
	defer running.Unlock()
	for s := range running.m {
		if s.cmd.Process != nil {
			s.cmd.Process.Kill()
		}
	}
}

// procCPU is the process's utime+stime in clock ticks (fields 14 and 15
// of its procfs stat file; the command name may hold spaces, so count
// from the closing parenthesis).
func procCPU(pid int) (ticks int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return ut + st, nil
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// procRSS is VmRSS in kB from the process's procfs status file.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS line", pid)
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func clipString(s string) string {
	if len(s) > 400 {
		return s[len(s)-400:]
	}
	return s
}
