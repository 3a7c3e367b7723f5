package cached

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// listenUnix binds a unix socket at path with permissions mask, as
// memcached's -s/-a. A socket file left behind by a daemon that died is
// removed first; memcached removes any socket file, but one that still
// accepts connections belongs to a live daemon, and unlinking it would
// silently steal its clients, so that is refused. A file that is not a
// socket is never replaced.
func listenUnix(path string, mask fs.FileMode) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("unix socket %s: a %s is in the way; refusing to replace a file that is not a socket: %w", path, fileKind(fi.Mode()), fs.ErrExist)
		}
		if nc, err := net.DialTimeout("unix", path, time.Second); err == nil {
			nc.Close()
			return nil, fmt.Errorf("unix socket %s: another process is serving on it (stop it first): %w", path, syscall.EADDRINUSE)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("removing stale unix socket %s: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("failed to listen on unix socket %s: %w", path, err)
	}
	// The file is removed by Close: a daemon that stops cleanly leaves
	// nothing stale behind.
	ln.SetUnlinkOnClose(true)
	// memcached narrows the umask around bind; the umask is per process and
	// Go runs other goroutines meanwhile, so chmod instead. Between bind and
	// chmod the kernel's default (0777 &^ umask) applies to a socket nobody
	// knows about yet.
	if err := os.Chmod(path, mask&fs.ModePerm); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting unix socket %s mode %o: %w", path, mask, err)
	}
	return ln, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "non-socket file"
}
