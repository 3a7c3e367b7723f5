package cached

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// -d -P beside memcached: the foreground command exits 0 once the daemon
// listens, the pid file holds the background process, which leads a
// session of its own and stops on SIGTERM.
func TestDetachMatchesMemcached(t *testing.T) {
	mcPath := memcachedPath(t)
	self := testBinary(t)
	for _, name := range []string{"memcached", "cachectl"} {
		t.Run(name, func(t *testing.T) {
			port := strconv.Itoa(freePort(t))
			pidFile := filepath.Join(t.TempDir(), "pid")
			args := []string{"-d", "-P", pidFile, "-l", "127.0.0.1", "-p", port, "-U", "0"}
			cmd := exec.Command(self, args...)
			cmd.Env = append(os.Environ(), DaemonEnv+"=1")
			if name == "memcached" {
				cmd = exec.Command(mcPath, append(args, "-u", "root")...)
			}
			pid := runDetached(t, cmd, pidFile)
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			if sid, err := unixGetsid(pid); err != nil || sid != pid {
				t.Errorf("background process %d: session %d (%v); want a session of its own", pid, sid, err)
			}
			checkAnswers(t, net.JoinHostPort("127.0.0.1", port))
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("background process %d still running 10s after SIGTERM", pid)
				}
			}
		})
	}
}

// A daemon that cannot listen fails in the foreground with its reason.
func TestDetachReportsFailure(t *testing.T) {
	self := testBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	cmd := exec.Command(self, "-d", "-l", "127.0.0.1", "-p", port)
	cmd.Env = append(os.Environ(), DaemonEnv+"=1")
	out, err := runBounded(t, cmd)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "address already in use") {
		t.Errorf("-d on a busy port: %v, %q; want exit 1 naming the busy address", err, out)
	}
}

// runDetached runs a -d command to its exit and returns the pid in its
// pid file.
func runDetached(t *testing.T, cmd *exec.Cmd, pidFile string) int {
	t.Helper()
	out, err := runBounded(t, cmd)
	if err != nil {
		t.Fatalf("%s -d: %v: %s", cmd.Path, err, out)
	}
	var pid int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(pidFile)
		if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s -d wrote no pid file", cmd.Path)
		}
	}
	if pid == cmd.Process.Pid {
		t.Errorf("pid file holds the foreground process %d", pid)
	}
	return pid
}

// runBounded runs cmd with a 20 s limit and returns its output.
func runBounded(t *testing.T, cmd *exec.Cmd) (string, error) {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not return within 20s: %s", cmd.Path, out.String())
		return "", nil
	}
}

func unixGetsid(pid int) (int, error) {
	sid, _, errno := syscall.RawSyscall(syscall.SYS_GETSID, uintptr(pid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(sid), nil
}
