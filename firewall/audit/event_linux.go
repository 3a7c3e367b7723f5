package audit

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// ctnetlink's event messages: subsystem CTNETLINK, message CT_NEW (for
// both a new flow, flagged NLM_F_CREATE, and an update) or CT_DELETE.
const (
	ctNew    = 1<<8 | 0
	ctDelete = 1<<8 | 2
)

// nextAttr splits the first netlink attribute off b. It is attrs without
// the callback: the event path runs it for every flow on the host, and a
// closure that escapes would cost an allocation per event.
func nextAttr(b []byte) (typ uint16, payload, rest []byte, ok bool) {
	if len(b) < 4 {
		return 0, nil, nil, false
	}
	n := int(binary.NativeEndian.Uint16(b))
	if n < 4 || n > len(b) {
		return 0, nil, nil, false
	}
	return binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask, b[4:n], b[min(align4(n), len(b)):], true
}

// findAttr returns the payload of the first attribute of type typ in b.
func findAttr(b []byte, typ uint16) ([]byte, bool) {
	for {
		t, p, rest, ok := nextAttr(b)
		if !ok {
			return nil, false
		}
		if t == typ {
			return p, true
		}
		b = rest
	}
}

// replySource reads only the protocol and source port of a flow's reply
// tuple (the attributes after the nfgenmsg header): what decides whether
// an event is the cache's. It allocates nothing.
func replySource(b []byte) (Proto, uint16, bool) {
	tuple, ok := findAttr(b, ctaTupleReply)
	if !ok {
		return 0, 0, false
	}
	proto, ok := findAttr(tuple, ctaTupleProto)
	if !ok {
		return 0, 0, false
	}
	num, ok := findAttr(proto, ctaProtoNum)
	if !ok || len(num) < 1 {
		return 0, 0, false
	}
	port, ok := findAttr(proto, ctaProtoSrcPort)
	if !ok || len(port) < 2 {
		// ICMP and other protocols without ports are never the cache's.
		return Proto(num[0]), 0, false
	}
	return Proto(num[0]), binary.BigEndian.Uint16(port), true
}

// eachEvent walks the netlink messages of one event datagram, calling fn
// with each conntrack event's type and attributes. Other messages
// (expectations, a truncated tail) are skipped.
func eachEvent(b []byte, fn func(destroy bool, attrs []byte)) {
	for len(b) >= unix.NLMSG_HDRLEN {
		n := int(binary.NativeEndian.Uint32(b))
		if n < unix.NLMSG_HDRLEN || n > len(b) {
			return
		}
		typ := binary.NativeEndian.Uint16(b[4:])
		if payload := b[unix.NLMSG_HDRLEN:n]; len(payload) >= 4 && (typ == ctNew || typ == ctDelete) {
			fn(typ == ctDelete, payload[4:])
		}
		b = b[min(align4(n), len(b)):]
	}
}
