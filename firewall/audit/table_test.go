package audit

import (
	"net/netip"
	"strings"
	"testing"
	"time"
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
