package audit

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func tflow(peer string, state TCPState) Flow {
	src := netip.MustParseAddrPort(peer)
	cache := netip.MustParseAddrPort("10.0.0.1:11211")
	return Flow{Proto: TCP, Orig: Tuple{src, cache}, Reply: Tuple{cache, src}, TCPState: state}
}

type tableStep struct {
	destroy bool
	flow    Flow
}

// TestFlowTableSync checks the replay that makes a resync exact: events
// logged while the dump ran are applied over the dump's flows, in order.
func TestFlowTableSync(t *testing.T) {
	a, b, c := "10.9.0.1:1000", "10.9.0.2:1000", "10.9.0.3:1000"
	tests := []struct {
		name   string
		dumped []Flow
		during []tableStep // events while the dump runs
		want   map[string]TCPState
	}{
		{name: "dump only", dumped: []Flow{tflow(a, TCPEstablished)},
			want: map[string]TCPState{a: TCPEstablished}},
		{name: "destroyed after the dump read it", dumped: []Flow{tflow(a, TCPEstablished)},
			during: []tableStep{{true, tflow(a, TCPTimeWait)}}, want: map[string]TCPState{}},
		{name: "created after the dump passed its bucket",
			during: []tableStep{{false, tflow(b, TCPSynRecv)}, {false, tflow(b, TCPEstablished)}},
			want:   map[string]TCPState{b: TCPEstablished}},
		{name: "older event replayed over a newer dump ends at the last event", dumped: []Flow{tflow(c, TCPEstablished)},
			during: []tableStep{{false, tflow(c, TCPSynRecv)}, {false, tflow(c, TCPEstablished)}},
			want:   map[string]TCPState{c: TCPEstablished}},
		{name: "destroyed before the dump", during: []tableStep{{true, tflow(a, TCPTimeWait)}},
			want: map[string]TCPState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newFlowTable([]Port{{TCP, 11211}}, 10)
			tab.beginSync()
			dumped := map[flowKey]Flow{}
			for i := range tt.dumped {
				dumped[keyOf(&tt.dumped[i])] = tt.dumped[i]
			}
			for i := range tt.during {
				tab.event(tt.during[i].destroy, &tt.during[i].flow)
			}
			if st := tab.status(); st.InSync {
				t.Fatal("in sync before the dump finished")
			}
			if err := tab.finishSync(dumped, FilterTuple, time.Unix(100, 0)); err != nil {
				t.Fatal(err)
			}
			got := map[string]TCPState{}
			for _, f := range tab.flows {
				got[f.Orig.Src.String()] = f.TCPState
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
			if st := tab.status(); !st.InSync || st.Resyncs != 0 || st.Dump != FilterTuple {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// TestFlowTableOutOfSync: a loss or an overflow empties the table and
// says why, and a resync that lost events on the way is not installed.
func TestFlowTableOutOfSync(t *testing.T) {
	tab := newFlowTable([]Port{{TCP, 11211}}, 2)
	tab.beginSync()
	if err := tab.finishSync(map[flowKey]Flow{}, FilterTuple, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.9.0.1:1", "10.9.0.2:1"} {
		f := tflow(p, TCPEstablished)
		tab.event(false, &f)
	}
	if st := tab.status(); !st.InSync || st.Flows != 2 {
		t.Fatalf("at the bound: %+v", st)
	}
	f := tflow("10.9.0.3:1", TCPEstablished)
	tab.event(false, &f)
	if st := tab.status(); st.InSync || st.Flows != 0 || !strings.Contains(st.Reason, "more than 2 flows") {
		t.Fatalf("past the bound: %+v", st)
	}

	tab.beginSync()
	tab.lost()
	if err := tab.finishSync(map[flowKey]Flow{}, FilterTuple, time.Now()); err == nil {
		t.Fatal("a resync that lost events was installed")
	}
	if st := tab.status(); st.InSync || st.Losses != 1 {
		t.Fatalf("after a loss during the resync: %+v", st)
	}
	tab.beginSync()
	if err := tab.finishSync(map[flowKey]Flow{}, FilterMark, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := tab.status(); !st.InSync || st.Resyncs != 1 {
		t.Fatalf("after the second resync: %+v", st)
	}
}

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
