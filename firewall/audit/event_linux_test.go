package audit

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// eventMessage builds a ctnetlink event as the kernel sends it.
func eventMessage(typ uint16, proto Proto, sport uint16) []byte {
	tp := appendAttr(nil, ctaProtoNum, []byte{byte(proto)})
	tp = appendAttr(tp, ctaProtoSrcPort, binary.BigEndian.AppendUint16(nil, sport))
	tp = appendAttr(tp, ctaProtoDstPort, binary.BigEndian.AppendUint16(nil, 40000))
	ip := appendAttr(nil, ctaIPv4Src, []byte{10, 0, 0, 1})
	ip = appendAttr(ip, ctaIPv4Dst, []byte{10, 9, 0, 1})
	tuple := appendAttr(appendAttr(nil, ctaTupleIP|nlaNested, ip), ctaTupleProto|nlaNested, tp)
	body := appendAttr(nil, ctaTupleOrig|nlaNested, tuple)
	body = appendAttr(body, ctaTupleReply|nlaNested, tuple)
	body = append([]byte{unix.AF_INET, unix.NFNETLINK_V0, 0, 0}, body...)
	hdr := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	hdr = binary.NativeEndian.AppendUint16(hdr, typ)
	hdr = append(hdr, make([]byte, unix.NLMSG_HDRLEN-6)...)
	return append(hdr, body...)
}

// TestEventDiscardAllocatesNothing: on a busy host most events are other
// flows, and deciding so must cost no garbage.
func TestEventDiscardAllocatesNothing(t *testing.T) {
	tr := &Tracker{tab: newFlowTable([]Port{{TCP, 11211}}, 10)}
	msg := eventMessage(ctNew, TCP, 8080)
	allocs := testing.AllocsPerRun(1000, func() { eachEvent(msg, tr.onEvent) })
	if allocs != 0 {
		t.Fatalf("discarding an event allocated %.1f times", allocs)
	}
	eachEvent(eventMessage(ctNew, TCP, 11211), tr.onEvent)
	tr.tab.beginSync()
	eachEvent(eventMessage(ctDelete, TCP, 11211), tr.onEvent)
	eachEvent(eventMessage(ctNew, UDP, 11211), tr.onEvent)
	if len(tr.tab.pending) != 1 || !tr.tab.pending[0].destroy || tr.tab.pending[0].flow.Reply.Src.Port() != 11211 {
		t.Fatalf("the cache's events: %+v", tr.tab.pending)
	}
}

func BenchmarkEventDiscard(b *testing.B) {
	tr := &Tracker{tab: newFlowTable([]Port{{TCP, 11211}}, 10)}
	msg := eventMessage(ctNew, TCP, 8080)
	b.ReportAllocs()
	for b.Loop() {
		eachEvent(msg, tr.onEvent)
	}
}
