package audit

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

var (
	trackCache = netip.MustParseAddr("10.215.0.1")
	trackPorts = []Port{{TCP, testPort}}
)

// startTracker runs a Tracker inside ns until the test ends and waits for
// its first synchronisation.
func startTracker(t *testing.T, ns *nstest.NS, cfg TrackerConfig) *Tracker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var tr *Tracker
	if err := ns.Do(func() (err error) { tr, err = StartTracker(ctx, cfg); return err }); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := tr.WaitSync(wctx); err != nil {
		t.Fatalf("tracker never synchronised: %v", err)
	}
	return tr
}

// tracked asks the tracker for its table, as an audit does.
func tracked(t *testing.T, tr *Tracker) (TableStatus, map[netip.AddrPort]Flow) {
	t.Helper()
	got := map[netip.AddrPort]Flow{}
	st, err := tr.Flows(func(f *Flow) { got[f.Orig.Src] = *f })
	if err != nil {
		t.Fatal(err)
	}
	return st, got
}

func ctConn(t *testing.T, ns *nstest.NS) *conntrack.Conn {
	t.Helper()
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(ns.Handle())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func cacheFlow(peer netip.AddrPort, dport uint16, state TCPState) conntrack.Flow {
	f := conntrack.NewFlow(uint8(TCP), 0, peer.Addr(), trackCache, peer.Port(), dport, 600, 0)
	f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: uint8(state)}
	return f
}

// TestRealTrackerFollowsEvents changes the kernel's table right before
// each question: the tracker must answer with the change, every time,
// because it reads the queued events before it answers.
func TestRealTrackerFollowsEvents(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	c := ctConn(t, ns)
	before := netip.MustParseAddrPort("10.215.1.1:40000")
	if err := c.Create(cacheFlow(before, testPort, TCPEstablished)); err != nil {
		t.Fatal(err)
	}
	tr := startTracker(t, ns, TrackerConfig{Ports: trackPorts})
	if st, got := tracked(t, tr); !st.InSync || len(got) != 1 || got[before].TCPState != TCPEstablished {
		t.Fatalf("after the first dump: %+v, %v; want in sync with the flow from %s", st, got, before)
	}

	other := netip.MustParseAddrPort("10.215.1.2:40001")
	if err := c.Create(cacheFlow(other, 8000, TCPEstablished)); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		peer := netip.AddrPortFrom(netip.MustParseAddr("10.215.2.1"), uint16(41000+i))
		if err := c.Create(cacheFlow(peer, testPort, TCPSynRecv)); err != nil {
			t.Fatal(err)
		}
		if _, got := tracked(t, tr); got[peer].TCPState != TCPSynRecv {
			t.Fatalf("round %d: flow created just before the question: %+v", i, got[peer])
		}
		if err := c.Update(cacheFlow(peer, testPort, TCPEstablished)); err != nil {
			t.Fatal(err)
		}
		if _, got := tracked(t, tr); got[peer].TCPState != TCPEstablished {
			t.Fatalf("round %d: flow updated just before the question: %+v", i, got[peer])
		}
		if err := c.Delete(cacheFlow(peer, testPort, TCPEstablished)); err != nil {
			t.Fatal(err)
		}
		if _, got := tracked(t, tr); len(got) != 1 {
			t.Fatalf("round %d: flow destroyed just before the question is still there: %v", i, got)
		}
	}
	st, got := tracked(t, tr)
	if _, ok := got[other]; ok || !st.InSync || st.Resyncs != 0 || st.Losses != 0 || st.Flows != 1 {
		t.Fatalf("at the end: %+v, %v; want only %s, in sync, no resync", st, got, before)
	}
}

// TestRealTrackerResyncsAfterLoss overflows the event socket while the
// tracker cannot read it: it must notice the loss, answer "not in sync"
// until a fresh dump, and then hold every flow again.
func TestRealTrackerResyncsAfterLoss(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	c := ctConn(t, ns)
	tr := startTracker(t, ns, TrackerConfig{Ports: trackPorts, ReadBuffer: 4096})

	const n = 300
	tr.mu.Lock() // the reader cannot drain: the kernel must drop events
	for i := range n {
		peer := netip.AddrPortFrom(netip.MustParseAddr("10.215.3.1"), uint16(42000+i))
		if err := c.Create(cacheFlow(peer, testPort, TCPEstablished)); err != nil {
			tr.mu.Unlock()
			t.Fatal(err)
		}
	}
	// What the tracker says once it reads the overflowed socket.
	_, derr := tr.drain()
	lost := tr.tab.status()
	tr.mu.Unlock()
	if derr != nil || lost.Losses == 0 || lost.InSync {
		t.Fatalf("after the overflow: %+v, %v; want a loss and not in sync", lost, derr)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		st, got := tracked(t, tr)
		if st.InSync {
			if st.Resyncs != 1 || len(got) != n {
				t.Fatalf("after the resync: %+v with %d flows; want 1 resync and %d flows", st, len(got), n)
			}
			return
		}
		if len(got) != 0 {
			t.Fatalf("a table out of sync handed out %d flows", len(got))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no resync within 10s: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRealTrackerBound: past its bound the table gives up rather than
// grow, and audits fall back; once the cache's flows shrink, a resync
// brings it back.
func TestRealTrackerBound(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	c := ctConn(t, ns)
	tr := startTracker(t, ns, TrackerConfig{Ports: trackPorts, MaxFlows: 4})
	var peers []netip.AddrPort
	for i := range 5 {
		peer := netip.AddrPortFrom(netip.MustParseAddr("10.215.4.1"), uint16(43000+i))
		if err := c.Create(cacheFlow(peer, testPort, TCPEstablished)); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, peer)
	}
	st, got := tracked(t, tr)
	if st.InSync || len(got) != 0 || !strings.Contains(st.Reason, "more than 4 flows") {
		t.Fatalf("past the bound: %+v, %d flows; want out of sync, empty, saying why", st, len(got))
	}
	if err := c.Delete(cacheFlow(peers[0], testPort, TCPEstablished)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, got := tracked(t, tr)
		if st.InSync {
			if len(got) != 4 || st.Resyncs != 1 {
				t.Fatalf("back in sync: %+v with %d flows, want 4 flows after 1 resync", st, len(got))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not back in sync within 10s of shrinking below the bound: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
