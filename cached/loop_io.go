package cached

import (
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The socket I/O of a loop connection.

// socketIO is a loop connection's reader and writer. On the loop a read or
// write that would block detaches the connection first; after that it
// waits in poll(2) like a blocking socket.
type socketIO struct{ c *conn }

func (s socketIO) Read(p []byte) (int, error) {
	for {
		n, err := rawRead(s.c.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if err := s.wait(unix.POLLIN); err != nil {
				return 0, err
			}
			continue
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (s socketIO) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := rawWrite(s.c.fd, p[done:])
		if err != nil {
			if err := s.retry(err, "write"); err != nil {
				return done, err
			}
			continue
		}
		done += n
	}
	return done, nil
}

// retry returns nil when a failed write(2) or writev(2) is to be tried
// again: at once after a signal, or once the socket takes more after
// EAGAIN (waiting detaches the connection).
func (s socketIO) retry(err error, call string) error {
	switch err {
	case unix.EINTR:
		return nil
	case unix.EAGAIN:
		return s.wait(unix.POLLOUT)
	}
	return os.NewSyscallError(call, err)
}

// wait blocks until the socket is ready. A read wait also ends when the
// server stops (as the read deadline of a goroutine-served connection
// does) or after idle_timeout.
func (s socketIO) wait(events int16) error {
	c := s.c
	if !c.detached {
		c.loop.detach(c)
	}
	fds := [2]unix.PollFd{{Fd: int32(c.fd), Events: events}, {Fd: int32(c.srv.stopFD), Events: unix.POLLIN}}
	nfds, timeout := 1, -1
	if events == unix.POLLIN {
		nfds = 2
		if idle := c.srv.cfg.IdleTimeout; idle > 0 {
			timeout = int(idle.Milliseconds())
		}
	}
	for {
		n, err := unix.Poll(fds[:nfds], timeout)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return os.NewSyscallError("poll", err)
		case n == 0:
			return errIdle
		case fds[1].Revents != 0:
			return os.ErrDeadlineExceeded
		}
		return nil
	}
}

// kill makes a connection end from another goroutine: shutting the
// socket down wakes whoever serves it, which then closes it. Closing the
// descriptor here could free its number for reuse under that server.
func (c *conn) kill() {
	if c.fd >= 0 {
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
		return
	}
	if c.nc != nil {
		c.nc.Close()
	}
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket
// without the scheduler's system call bookkeeping, which cost more than
// the loopback copy itself: the call cannot block, so it never needs its
// P handed to another thread.
func rawRead(fd int, p []byte) (int, error) {
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// writeViews writes out with the values of c.views spliced in at their
// places, in as few writev calls as the socket takes.
func (c *conn) writeViews() (int, error) {
	iov, prev := c.iov[:0], 0
	for _, v := range c.views {
		iov = appendIovec(appendIovec(iov, c.out[prev:v.at]), v.b)
		prev = v.at
	}
	iov = appendIovec(iov, c.out[prev:])
	// Views are only taken on a socketIO (viewMin); the interface call
	// also keeps flush from referring to the loop statically, which the
	// binary command table's initialization could not have.
	n, err := c.rw.(vectorWriter).writev(iov)
	clear(iov) // pooled, the vector must not keep the reply buffer alive
	c.iov = iov[:0]
	return n, err
}

// vectorWriter writes a gathered reply.
type vectorWriter interface {
	writev(iov []unix.Iovec) (int, error)
}

func appendIovec(iov []unix.Iovec, b []byte) []unix.Iovec {
	if len(b) == 0 {
		return iov
	}
	v := unix.Iovec{Base: unsafe.SliceData(b)}
	v.SetLen(len(b))
	return append(iov, v)
}

// writev is Write for a gathered reply: it consumes iov as the socket
// takes it.
func (s socketIO) writev(iov []unix.Iovec) (int, error) {
	done := 0
	for len(iov) > 0 {
		n, err := rawWritev(s.c.fd, iov)
		if err != nil {
			if err := s.retry(err, "writev"); err != nil {
				return done, err
			}
			continue
		}
		done += n
		for n > 0 {
			if l := int(iov[0].Len); n >= l {
				n -= l
				iov = iov[1:]
				continue
			}
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
			iov[0].Len -= uint64(n)
			n = 0
		}
	}
	return done, nil
}

func rawWritev(fd int, iov []unix.Iovec) (int, error) {
	n, _, errno := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(iov))), uintptr(len(iov)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
