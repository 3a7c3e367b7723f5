package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// dumper reads ctnetlink dumps by hand, one socket read at a time. The
// libraries cannot stream: mdlayher/netlink's Receive and Execute gather
// every part of a multi-part reply before returning, and ti-mo/conntrack
// then decodes them all into a slice, about 1.8 KB a flow. Here each read
// is judged and the buffer reused, so memory stays at one buffer whatever
// the table's size.
type dumper struct {
	c   *netlink.Conn
	raw syscall.RawConn
	buf []byte
}

// dumpBufSize holds one read: the kernel fills a dump message up to the
// reader's buffer size, capped at 32 KiB.
const dumpBufSize = 64 << 10

// ctnetlink's request for the table: subsystem CTNETLINK, message CT_GET.
const ctGet = 1<<8 | 1

func dialDumper(nsFD int) (*dumper, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFD})
	if err != nil {
		return nil, fmt.Errorf("opening ctnetlink dump socket: %w", err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("ctnetlink dump socket: %w", err)
	}
	return &dumper{c: c, raw: raw, buf: make([]byte, dumpBufSize)}, nil
}

func (d *dumper) Close() error { return d.c.Close() }

// dump asks for the table of family (0 for both) with the given filter
// attributes and calls fn with every flow the kernel sends. It returns how
// many that were. A kernel that rejects the filter answers with an error
// before any flow, which is returned as the syscall.Errno it is.
func (d *dumper) dump(family uint8, filter []byte, fn func(*Flow)) (int, error) {
	data := append([]byte{family, unix.NFNETLINK_V0, 0, 0}, filter...)
	req, err := d.c.Send(netlink.Message{
		Header: netlink.Header{Type: ctGet, Flags: netlink.Request | netlink.Dump},
		Data:   data,
	})
	if err != nil {
		return 0, fmt.Errorf("sending ctnetlink dump request: %w", err)
	}
	var f Flow
	n := 0
	for {
		b, err := d.read()
		if err != nil {
			return n, err
		}
		done, err := eachMessage(b, req.Header.Sequence, func(payload []byte) error {
			if len(payload) < 4 {
				return fmt.Errorf("ctnetlink message of %d bytes has no nfgenmsg header", len(payload))
			}
			if err := decodeFlow(payload[4:], &f); err != nil {
				return fmt.Errorf("decoding conntrack flow: %w", err)
			}
			n++
			fn(&f)
			return nil
		})
		if err != nil || done {
			return n, err
		}
	}
}

// read waits for and returns one datagram of the dump.
func (d *dumper) read() ([]byte, error) {
	var n int
	var rerr error
	err := d.raw.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), d.buf, unix.MSG_TRUNC)
		return !errors.Is(rerr, unix.EAGAIN) && !errors.Is(rerr, unix.EINTR)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("reading ctnetlink dump: %w", err)
	}
	if n > len(d.buf) {
		return nil, fmt.Errorf("reading ctnetlink dump: a %d-byte message overflowed the %d-byte buffer", n, len(d.buf))
	}
	return d.buf[:n], nil
}

// eachMessage walks the netlink messages of one datagram, calling fn with
// the payload of each flow. done is true at the dump's end (NLMSG_DONE).
// A NLMSG_ERROR carrying an errno ends the dump with that errno.
func eachMessage(b []byte, seq uint32, fn func([]byte) error) (done bool, err error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		n := int(binary.NativeEndian.Uint32(b))
		typ := binary.NativeEndian.Uint16(b[4:])
		if n < unix.NLMSG_HDRLEN || n > len(b) {
			return false, fmt.Errorf("ctnetlink message length %d of %d bytes", n, len(b))
		}
		if got := binary.NativeEndian.Uint32(b[8:]); got != seq {
			return false, fmt.Errorf("ctnetlink reply for request %d, want %d", got, seq)
		}
		payload := b[unix.NLMSG_HDRLEN:n]
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(payload) < 4 {
				return false, errors.New("truncated netlink error message")
			}
			if e := int32(binary.NativeEndian.Uint32(payload)); e != 0 {
				return false, syscall.Errno(-e)
			}
		default:
			if err := fn(payload); err != nil {
				return false, err
			}
		}
		b = b[min(align4(n), len(b)):]
	}
	return false, nil
}
