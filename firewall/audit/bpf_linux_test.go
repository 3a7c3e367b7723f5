package audit

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// filterPorts are tracked in the filter tests: the same port number is
// tracked over TCP and not over UDP, so a filter that looked at only one
// of the two would fail.
var filterPorts = []Port{{TCP, 11211}, {UDP, 11311}}

// eventSocket subscribes to conntrack events in the calling thread's
// namespace, with the event filter for ports when filtered.
func eventSocket(t *testing.T, ports []Port, filtered bool) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if filtered {
		if err := attachEventFilter(fd, ports); err != nil {
			t.Fatal(err)
		}
	}
	groups := uint32(1<<(groupCTNew-1) | 1<<(groupCTUpdate-1) | 1<<(groupCTDestroy-1))
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// queued reads every datagram queued on fd.
func queued(t *testing.T, fd int) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return got
		}
		if err != nil {
			t.Fatalf("reading events: %v", err)
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
}

// eventKeys decodes the flows of the events in datagrams, in order.
func eventKeys(t *testing.T, datagrams [][]byte) []flowKey {
	t.Helper()
	var keys []flowKey
	for _, d := range datagrams {
		eachEvent(d, func(_ bool, attrs []byte) {
			var f Flow
			if err := decodeFlow(attrs, &f); err != nil {
				t.Fatalf("undecodable event: %v", err)
			}
			keys = append(keys, keyOf(&f))
		})
	}
	return keys
}

// TestRealEventFilter creates and destroys real flows in a namespace and
// reads their events through two sockets, one with the filter: every
// event of a tracked flow must come through it, as userspace would keep
// it, and every other flow's event must stop in the kernel.
func TestRealEventFilter(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	c := ctConn(t, ns)
	var plain, filtered int
	if err := ns.Do(func() error {
		plain, filtered = eventSocket(t, filterPorts, false), eventSocket(t, filterPorts, true)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	tests := []struct {
		name      string
		proto     Proto
		peer, dst netip.AddrPort
		reply     netip.AddrPort // the reply's source; zero: dst, no NAT
		tracked   bool
	}{
		{"tcp4 to the cache", TCP, ap("10.216.0.2:40000"), ap("10.216.0.1:11211"), netip.AddrPort{}, true},
		{"tcp6 to the cache", TCP, ap("[fd00:216::2]:40000"), ap("[fd00:216::1]:11211"), netip.AddrPort{}, true},
		{"udp4 to the udp port", UDP, ap("10.216.0.2:40001"), ap("10.216.0.1:11311"), netip.AddrPort{}, true},
		{"udp6 to the udp port", UDP, ap("[fd00:216::2]:40001"), ap("[fd00:216::1]:11311"), netip.AddrPort{}, true},
		{"tcp4 forwarded to the cache", TCP, ap("10.216.0.3:40002"), ap("10.216.0.1:8080"), ap("10.216.0.1:11211"), true},
		{"tcp6 forwarded to the cache", TCP, ap("[fd00:216::3]:40002"), ap("[fd00:216::1]:8080"), ap("[fd00:216::1]:11211"), true},
		{"tcp4 to another port", TCP, ap("10.216.0.2:40003"), ap("10.216.0.1:8080"), netip.AddrPort{}, false},
		{"tcp6 to another port", TCP, ap("[fd00:216::2]:40003"), ap("[fd00:216::1]:443"), netip.AddrPort{}, false},
		{"udp4 to the tcp port", UDP, ap("10.216.0.2:40004"), ap("10.216.0.1:11211"), netip.AddrPort{}, false},
		{"udp6 to another port", UDP, ap("[fd00:216::2]:40004"), ap("[fd00:216::1]:53"), netip.AddrPort{}, false},
		{"tcp4 to the cache port, forwarded away", TCP, ap("10.216.0.4:40005"), ap("10.216.0.1:11211"), ap("10.216.0.1:8080"), false},
		{"tcp4 from the cache port", TCP, ap("10.216.0.1:11211"), ap("10.216.0.2:8080"), netip.AddrPort{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := conntrack.NewFlow(uint8(tt.proto), 0, tt.peer.Addr(), tt.dst.Addr(), tt.peer.Port(), tt.dst.Port(), 600, 0)
			if tt.reply.IsValid() {
				f.TupleReply.IP.SourceAddress, f.TupleReply.Proto.SourcePort = tt.reply.Addr(), tt.reply.Port()
			}
			if tt.proto == TCP {
				f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: uint8(TCPEstablished)}
			}
			if err := c.Create(f); err != nil {
				t.Fatal(err)
			}
			if err := c.Delete(f); err != nil {
				t.Fatal(err)
			}
			want := flowKey{tt.proto, tt.peer, tt.dst}
			plainDG := queued(t, plain)
			all, kept := eventKeys(t, plainDG), eventKeys(t, queued(t, filtered))
			if len(all) < 2 || all[0] != want {
				t.Fatalf("the unfiltered socket read %v; want the NEW and DESTROY events of %v", all, want)
			}
			// The case's expectation is userspace's own decision.
			tab := newFlowTable(filterPorts, 10)
			for _, d := range plainDG {
				eachEvent(d, func(_ bool, attrs []byte) {
					proto, port, ok := replySource(attrs)
					if ok && tab.tracks(proto, port) != tt.tracked {
						t.Fatalf("userspace decides tracked=%v for %v", !tt.tracked, want)
					}
				})
			}
			if tt.tracked && len(kept) != len(all) {
				t.Fatalf("the filter kept %d of the tracked flow's %d events: %v", len(kept), len(all), kept)
			}
			if !tt.tracked && len(kept) != 0 {
				t.Fatalf("the filter kept %d events of an untracked flow: %v", len(kept), kept)
			}
		})
	}
}

// ctMessage frames attrs as one ctnetlink message of type typ.
func ctMessage(typ, flags uint16, attrs []byte) []byte {
	body := append([]byte{unix.AF_INET, unix.NFNETLINK_V0, 0, 0}, attrs...)
	b := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = append(b, make([]byte, 8)...) // sequence and port id
	return append(b, body...)
}

// tupleAttr is a v4 tuple attribute of type typ whose protocol nest holds
// proto (already encoded attributes).
func tupleAttr(typ uint16, proto []byte) []byte {
	ip := appendAttr(nil, ctaIPv4Src, []byte{10, 0, 0, 1})
	ip = appendAttr(ip, ctaIPv4Dst, []byte{10, 9, 0, 1})
	tuple := appendAttr(appendAttr(nil, ctaTupleIP|nlaNested, ip), ctaTupleProto|nlaNested, proto)
	return appendAttr(nil, typ|nlaNested, tuple)
}

// protoAttrs encodes a protocol nest; a port of 0 is left out.
func protoAttrs(proto Proto, sport uint16) []byte {
	b := appendAttr(nil, ctaProtoNum, []byte{byte(proto)})
	if sport != 0 {
		b = appendAttr(b, ctaProtoSrcPort, binary.BigEndian.AppendUint16(nil, sport))
	}
	return appendAttr(b, ctaProtoDstPort, binary.BigEndian.AppendUint16(nil, 40000))
}

// flowAttrs is an event's attributes with the reply tuple's protocol nest.
func flowAttrs(replyProto []byte) []byte {
	b := tupleAttr(ctaTupleOrig, protoAttrs(TCP, 40000))
	return append(b, tupleAttr(ctaTupleReply, replyProto)...)
}

// TestEventFilterShapes sends crafted messages through the kernel to a
// socket carrying the filter: it drops only events it has read as another
// flow's, and keeps every message whose layout it does not expect.
func TestEventFilterShapes(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	var rx, tx int
	if err := ns.Do(func() error {
		rx, tx = unicastSocket(t), unicastSocket(t)
		return attachEventFilter(rx, filterPorts)
	}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(rx)
	if err != nil {
		t.Fatal(err)
	}
	to := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: sa.(*unix.SockaddrNetlink).Pid}
	tracked, other := flowAttrs(protoAttrs(TCP, 11211)), flowAttrs(protoAttrs(TCP, 8080))
	twoMessages := append(ctMessage(ctNew, 0, other), ctMessage(ctNew, 0, other)...)
	long := ctMessage(ctNew, 0, other)
	binary.NativeEndian.PutUint32(long, uint32(len(long)+4))
	tests := []struct {
		name string
		msg  []byte
		kept bool
	}{
		{"tracked new", ctMessage(ctNew, 0, tracked), true},
		{"tracked destroy", ctMessage(ctDelete, 0, tracked), true},
		{"tracked udp", ctMessage(ctNew, 0, flowAttrs(protoAttrs(UDP, 11311))), true},
		{"other port", ctMessage(ctNew, 0, other), false},
		{"other port destroyed", ctMessage(ctDelete, 0, other), false},
		{"tracked port, other protocol", ctMessage(ctNew, 0, flowAttrs(protoAttrs(UDP, 11211))), false},
		{"icmp, no port", ctMessage(ctNew, 0, flowAttrs(appendAttr(nil, ctaProtoNum, []byte{1}))), false},
		{"reply tuple first, other attributes before it",
			ctMessage(ctNew, 0, append(appendAttr(tupleAttr(ctaTupleReply, protoAttrs(TCP, 8080)), ctaStatus, make([]byte, 4)),
				tupleAttr(ctaTupleOrig, protoAttrs(TCP, 11211))...)), false},
		{"tracked reply tuple first", ctMessage(ctNew, 0, append(appendAttr(nil, ctaMark, make([]byte, 4)),
			append(tupleAttr(ctaTupleReply, protoAttrs(TCP, 11211)), tupleAttr(ctaTupleOrig, protoAttrs(TCP, 8080))...)...)), true},
		{"truncated header", ctMessage(ctNew, 0, other)[:12], true},
		{"no attributes", ctMessage(ctNew, 0, nil), true},
		{"two messages", twoMessages, true},
		{"length beyond the datagram", long, true},
		{"multipart", ctMessage(ctNew, unix.NLM_F_MULTI, other), true},
		{"error message", ctMessage(unix.NLMSG_ERROR, 0, other), true},
		{"overrun message", ctMessage(unix.NLMSG_OVERRUN, 0, other), true},
		{"another ctnetlink message", ctMessage(ctNew+1, 0, other), true},
		{"no reply tuple", ctMessage(ctNew, 0, tupleAttr(ctaTupleOrig, protoAttrs(TCP, 8080))), true},
		{"reply tuple without protocol", ctMessage(ctNew, 0, appendAttr(nil, ctaTupleReply|nlaNested,
			appendAttr(nil, ctaTupleIP|nlaNested, appendAttr(nil, ctaIPv4Src, []byte{10, 0, 0, 1})))), true},
		{"protocol number too long", ctMessage(ctNew, 0, flowAttrs(append(appendAttr(nil, ctaProtoNum, []byte{6, 0}),
			appendAttr(nil, ctaProtoSrcPort, []byte{0x1f, 0x90})...))), true},
		{"tracked protocol, no source port", ctMessage(ctNew, 0, flowAttrs(protoAttrs(TCP, 0))), true},
		{"source port too long", ctMessage(ctNew, 0, flowAttrs(append(appendAttr(nil, ctaProtoNum, []byte{6}),
			appendAttr(nil, ctaProtoSrcPort, []byte{0x1f, 0x90, 0, 0})...))), true},
	}
	buf := make([]byte, 1<<16)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := unix.Sendto(tx, tt.msg, 0, to); err != nil {
				t.Fatalf("sending: %v", err)
			}
			// Unicast delivery, filter included, is done when sendto returns.
			n, _, err := unix.Recvfrom(rx, buf, unix.MSG_DONTWAIT)
			switch {
			case errors.Is(err, unix.EAGAIN) && tt.kept:
				t.Fatal("the filter dropped a message it should keep")
			case err == nil && !tt.kept:
				t.Fatal("the filter kept another flow's event")
			case err == nil && n != len(tt.msg):
				t.Fatalf("kept %d of the message's %d bytes", n, len(tt.msg))
			case err != nil && !errors.Is(err, unix.EAGAIN):
				t.Fatal(err)
			}
		})
	}
}

// unicastSocket is a netfilter netlink socket that joins no group.
func unicastSocket(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	return fd
}
