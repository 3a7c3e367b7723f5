package daemon

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RunDir holds the control sockets of the daemons on this host.
const RunDir = "/run/cachectl"

// controlTimeout bounds one control exchange on either side.
const controlTimeout = 5 * time.Second

// ControlPath is the control socket of the daemon serving the policy file
// at policyPath. It is derived from the file's absolute path, so the
// daemon and every cachectl command that edits that file find the same
// socket, and daemons with different policies never share one. The hash
// keeps it short (a unix socket path has 108 bytes); the file's base name
// keeps it readable.
func ControlPath(policyPath string) string {
	abs, err := filepath.Abs(policyPath)
	if err != nil {
		abs = filepath.Clean(policyPath)
	}
	sum := sha256.Sum256([]byte(abs))
	base := strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs))
	if len(base) > 32 {
		base = base[:32]
	}
	return filepath.Join(RunDir, base+"-"+hex.EncodeToString(sum[:6])+".sock")
}

// ControlListener is a bound control socket, mode 0600: only root (and the
// daemon's own user) may ask for reloads or read the status.
type ControlListener struct {
	path string
	ln   *net.UnixListener
}

// ErrControlInUse means another live daemon already serves the socket,
// that is, the same policy file.
var ErrControlInUse = errors.New("another cachectl daemon already serves this policy")

// ListenControl binds the control socket at path. Call it before
// privileges are dropped: the socket lives in a root-owned directory. A
// stale socket (its daemon died) is replaced; a live one is refused.
func ListenControl(path string) (*ControlListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating the control socket directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &ControlListener{path: path, ln: ln}, nil
}

// removeStale clears a socket file whose daemon is gone, and refuses to
// touch anything else.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("control socket %s: a file that is not a socket is in the way; remove it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w (%s answers): give each daemon its own policy file", ErrControlInUse, path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale control socket %s: %w", path, err)
	}
	return nil
}

// Path is where the socket is bound.
func (l *ControlListener) Path() string { return l.path }

// Close stops listening and removes the socket file (best effort: after
// privileges are dropped the directory may not allow it, and the next
// daemon replaces a stale socket anyway).
func (l *ControlListener) Close() error { return l.ln.Close() }

// ControlHandler answers one request.
type ControlHandler func(ctx context.Context, req ControlRequest) ControlReply

// Serve answers requests until ctx ends, one short-lived connection each.
func (l *ControlListener) Serve(ctx context.Context, h ControlHandler, log *slog.Logger) {
	go func() {
		<-ctx.Done()
		l.ln.Close()
	}()
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil {
				log.Error("control socket stopped", "path", l.path, "err", err)
			}
			return
		}
		go serveControl(ctx, c, h, log)
	}
}

func serveControl(ctx context.Context, c *net.UnixConn, h ControlHandler, log *slog.Logger) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(controlTimeout))
	if err := checkPeer(c); err != nil {
		log.Warn("control socket: refused a client", "err", err)
		return
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return
	}
	var req ControlRequest
	var rep ControlReply
	if err := json.Unmarshal(line, &req); err != nil {
		rep.Error = fmt.Sprintf("bad request: %v", err)
	} else {
		rep = h(ctx, req)
	}
	out, err := json.Marshal(rep)
	if err != nil {
		log.Error("control socket: encoding the reply", "err", err)
		return
	}
	c.Write(append(out, '\n'))
}

// checkPeer admits root and the daemon's own user. The socket's mode
// already says so; this holds even if someone loosens the mode.
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("reading the peer's credentials: %w", credErr)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("uid %d (pid %d) is neither root nor the daemon's user", cred.Uid, cred.Pid)
	}
	return nil
}

// ErrNoDaemon means no daemon serves the policy: its control socket is
// missing, or nothing answers on it.
var ErrNoDaemon = errors.New("no running daemon serves this policy")

// Ask sends req to the daemon serving the policy at policyPath and returns
// its reply, waiting at most timeout.
func Ask(policyPath string, req ControlRequest, timeout time.Duration) (ControlReply, error) {
	path := ControlPath(policyPath)
	c, err := net.DialTimeout("unix", path, timeout)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
		return ControlReply{}, fmt.Errorf("%w (no daemon listens on %s)", ErrNoDaemon, path)
	}
	if err != nil {
		return ControlReply{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	data, err := json.Marshal(req)
	if err != nil {
		return ControlReply{}, err
	}
	if _, err := c.Write(append(data, '\n')); err != nil {
		return ControlReply{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return ControlReply{}, fmt.Errorf("control socket %s: no reply: %w", path, err)
	}
	var rep ControlReply
	if err := json.Unmarshal(line, &rep); err != nil {
		return ControlReply{}, fmt.Errorf("control socket %s: bad reply: %w", path, err)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("daemon pid %d: %s", rep.Daemon.PID, rep.Error)
	}
	return rep, nil
}
