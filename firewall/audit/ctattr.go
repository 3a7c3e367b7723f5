package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ctnetlink's attribute numbers (linux/netfilter/nfnetlink_conntrack.h):
// only those the audit reads or filters on.
const (
	ctaTupleOrig     = 1
	ctaTupleReply    = 2
	ctaStatus        = 3
	ctaProtoinfo     = 4
	ctaTimeout       = 7
	ctaMark          = 8
	ctaCountersOrig  = 9
	ctaCountersReply = 10
	ctaMarkMask      = 21
	ctaFilter        = 25

	ctaTupleIP    = 1
	ctaTupleProto = 2

	ctaIPv4Src = 1
	ctaIPv4Dst = 2
	ctaIPv6Src = 3
	ctaIPv6Dst = 4

	ctaProtoNum     = 1
	ctaProtoSrcPort = 2
	ctaProtoDstPort = 3

	ctaProtoinfoTCP      = 1
	ctaProtoinfoTCPState = 1

	ctaCountersPackets   = 1
	ctaCountersBytes     = 2
	ctaCounters32Packets = 3
	ctaCounters32Bytes   = 4

	ctaFilterReplyFlags = 2
	// The CTA_FILTER flags naming the reply tuple's fields to compare.
	ctaFilterFlagProtoNum     = 1 << 3
	ctaFilterFlagProtoSrcPort = 1 << 4

	nlaNested   = 0x8000
	nlaTypeMask = 0x3fff

	statusSeenReply = 1 << 1
	statusAssured   = 1 << 2
)

var errShortAttr = errors.New("truncated netlink attribute")

// attrs walks a run of netlink attributes (native-endian headers, padded
// to 4 bytes), calling fn with each type (flags masked off) and payload.
func attrs(b []byte, fn func(typ uint16, payload []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return errShortAttr
		}
		n := int(binary.NativeEndian.Uint16(b))
		if n < 4 || n > len(b) {
			return fmt.Errorf("%w: length %d of %d bytes", errShortAttr, n, len(b))
		}
		if err := fn(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[4:n]); err != nil {
			return err
		}
		b = b[min(align4(n), len(b)):]
	}
	return nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// decodeFlow reads one ctnetlink flow (the attributes after the nfgenmsg
// header) into f, which it resets first. It allocates nothing, which is
// what lets a dump of a million flows run in constant memory.
func decodeFlow(b []byte, f *Flow) error {
	*f = Flow{}
	return attrs(b, func(typ uint16, p []byte) error {
		switch typ {
		case ctaTupleOrig:
			return decodeTuple(p, &f.Orig, &f.Proto)
		case ctaTupleReply:
			var proto Proto
			return decodeTuple(p, &f.Reply, &proto)
		case ctaStatus:
			if len(p) >= 4 {
				st := binary.BigEndian.Uint32(p)
				f.SeenReply, f.Assured = st&statusSeenReply != 0, st&statusAssured != 0
			}
		case ctaProtoinfo:
			return attrs(p, func(typ uint16, p []byte) error {
				if typ != ctaProtoinfoTCP {
					return nil
				}
				return attrs(p, func(typ uint16, p []byte) error {
					if typ == ctaProtoinfoTCPState && len(p) >= 1 {
						f.TCPState = TCPState(p[0])
					}
					return nil
				})
			})
		case ctaTimeout:
			if len(p) >= 4 {
				f.Timeout = time.Duration(binary.BigEndian.Uint32(p)) * time.Second
			}
		case ctaMark:
			if len(p) >= 4 {
				f.Mark = binary.BigEndian.Uint32(p)
			}
		case ctaCountersOrig:
			return decodeCounters(p, &f.OrigCounters.Packets, &f.OrigCounters.Bytes)
		case ctaCountersReply:
			return decodeCounters(p, &f.ReplyCounters.Packets, &f.ReplyCounters.Bytes)
		}
		return nil
	})
}

func decodeTuple(b []byte, t *Tuple, proto *Proto) error {
	var src, dst netip.Addr
	var sport, dport uint16
	err := attrs(b, func(typ uint16, p []byte) error {
		switch typ {
		case ctaTupleIP:
			return attrs(p, func(typ uint16, p []byte) error {
				switch {
				case (typ == ctaIPv4Src || typ == ctaIPv4Dst) && len(p) == 4:
					a := netip.AddrFrom4([4]byte(p))
					if typ == ctaIPv4Src {
						src = a
					} else {
						dst = a
					}
				case (typ == ctaIPv6Src || typ == ctaIPv6Dst) && len(p) == 16:
					a := netip.AddrFrom16([16]byte(p))
					if typ == ctaIPv6Src {
						src = a
					} else {
						dst = a
					}
				}
				return nil
			})
		case ctaTupleProto:
			return attrs(p, func(typ uint16, p []byte) error {
				switch {
				case typ == ctaProtoNum && len(p) >= 1:
					*proto = Proto(p[0])
				case typ == ctaProtoSrcPort && len(p) >= 2:
					sport = binary.BigEndian.Uint16(p)
				case typ == ctaProtoDstPort && len(p) >= 2:
					dport = binary.BigEndian.Uint16(p)
				}
				return nil
			})
		}
		return nil
	})
	t.Src, t.Dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	return err
}

func decodeCounters(b []byte, packets, bytes *uint64) error {
	return attrs(b, func(typ uint16, p []byte) error {
		switch {
		case (typ == ctaCountersPackets || typ == ctaCountersBytes) && len(p) >= 8:
			v := binary.BigEndian.Uint64(p)
			if typ == ctaCountersPackets {
				*packets = v
			} else {
				*bytes = v
			}
		case (typ == ctaCounters32Packets || typ == ctaCounters32Bytes) && len(p) >= 4:
			v := uint64(binary.BigEndian.Uint32(p))
			if typ == ctaCounters32Packets {
				*packets = v
			} else {
				*bytes = v
			}
		}
		return nil
	})
}

// appendAttr appends one attribute, padded to 4 bytes.
func appendAttr(b []byte, typ uint16, payload []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// tupleFilterAttrs asks a dump for the flows whose reply tuple has port's
// protocol and comes from its port: where the cache answers from.
func tupleFilterAttrs(port Port) []byte {
	proto := appendAttr(nil, ctaProtoNum, []byte{byte(port.Proto)})
	proto = appendAttr(proto, ctaProtoSrcPort, binary.BigEndian.AppendUint16(nil, port.Port))
	tuple := appendAttr(nil, ctaTupleProto|nlaNested, proto)
	b := appendAttr(nil, ctaTupleReply|nlaNested, tuple)
	flags := binary.NativeEndian.AppendUint32(nil, ctaFilterFlagProtoNum|ctaFilterFlagProtoSrcPort)
	return appendAttr(b, ctaFilter|nlaNested, appendAttr(nil, ctaFilterReplyFlags, flags))
}

// markFilterAttrs asks a dump for the flows carrying m.
func markFilterAttrs(m Mark) []byte {
	b := appendAttr(nil, ctaMark, binary.BigEndian.AppendUint32(nil, m.Value))
	return appendAttr(b, ctaMarkMask, binary.BigEndian.AppendUint32(nil, m.Mask))
}
