package cached

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// useRawReads switches a plain TCP or unix connection to reads that wait
// for readability before taking an input buffer, so an idle connection
// holds none. TLS connections do not expose their socket and keep the
// buffered path.
func (c *conn) useRawReads(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.raw = raw
	// A method value made once, so a read allocates no closure.
	c.rawRead = c.readFD
}

// fillRaw reads into c.in[c.w:], taking a pooled buffer only once the
// socket has data. The runtime's poller does the waiting, honouring read
// deadlines (idle timeout, graceful shutdown) as net.Conn.Read does.
func (c *conn) fillRaw() error {
	idle := c.srv.cfg.IdleTimeout
	if idle > 0 {
		c.nc.SetReadDeadline(time.Now().Add(idle))
	}
	c.rawN, c.rawErr = 0, nil
	if err := c.raw.Read(c.rawRead); err != nil {
		if idle > 0 && isTimeout(err) {
			return errIdle
		}
		return err
	}
	n, err := c.rawN, c.rawErr
	c.w += n
	c.srv.bytesRead.Add(uint64(n))
	switch {
	case n > 0:
		return nil
	case err != nil:
		return os.NewSyscallError("read", err)
	}
	return io.EOF
}

// readFD is the raw read callback: false asks the runtime to wait for
// readability and call again. A buffer taken for a read that found
// nothing goes straight back, with the output and scratch buffers.
func (c *conn) readFD(fd uintptr) bool {
	if c.in == nil {
		c.takeInput()
	}
	for {
		n, err := syscall.Read(int(fd), c.in[c.w:])
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			// Nothing to read: the connection is idle until the poller
			// wakes it, and holds no buffer meanwhile.
			if c.w == 0 && c.inPooled {
				c.releaseInput()
			}
			c.releaseWork()
			return false
		}
		c.rawN, c.rawErr = max(n, 0), err
		return true
	}
}
