package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// -d: running in the background. memcached forks; a Go program cannot
// fork safely once its runtime has started threads, so the daemon starts
// itself again in a new session (setsid) with the same command line and
// waits on a pipe: the child writes readyMark once it listens (and its
// pid file is written), or its error. The parent then exits 0, or fails
// with the child's error, as `memcached -d` does in the foreground.
// Supervising the foreground process (systemd) stays the better way.

// DetachedEnv marks the background child; its value is the descriptor of
// the pipe to the parent. The child ignores -d.
const DetachedEnv = "CACHECTL_DETACHED_READY_FD"

const readyMark = "\x00ready"

// detach starts the background child and waits for its word.
func detach(verbose bool) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("-d: finding this program to start in the background: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("-d: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), DetachedEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if verbose {
		// As memcached -d -v, the log stays on this terminal.
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("-d: starting in the background: %w", err)
	}
	word, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	if bytes.Equal(word, []byte(readyMark)) {
		return cmd.Process.Release()
	}
	// The child failed: it said why, or at least how it ended.
	werr := cmd.Wait()
	msg := string(bytes.TrimSpace(word))
	if msg == "" {
		msg = fmt.Sprintf("the background daemon ended before it listened: %v", werr)
	}
	var exit *exec.ExitError
	if errors.As(werr, &exit) && exit.ExitCode() == ExitUsage {
		return usageError(errors.New(msg))
	}
	return errors.New(msg)
}

// readyPipe is the background child's pipe to its parent, nil in any
// other process.
func readyPipe() *os.File {
	fd, err := strconv.Atoi(os.Getenv(DetachedEnv))
	if err != nil || fd < 3 {
		return nil
	}
	os.Unsetenv(DetachedEnv)
	return os.NewFile(uintptr(fd), "ready")
}

// childReport tells the parent how the start went: ready, or err.
func childReport(ready *os.File, err error) {
	if ready == nil {
		return
	}
	if err == nil {
		ready.WriteString(readyMark)
	} else {
		ready.WriteString(err.Error())
	}
	ready.Close()
}
