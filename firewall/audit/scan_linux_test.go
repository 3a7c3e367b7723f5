package audit

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/ti-mo/conntrack"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

var cacheMark = Mark{Value: firewall.ConnMark, Mask: firewall.ConnMarkMask}

// markCacheFlows installs the rule cachectl's firewall puts in its port
// chain, here straight in INPUT: every packet to the cache port marks its flow.
func markCacheFlows(ns *nstest.NS) {
	xmark := fmt.Sprintf("0x%x/0x%x", firewall.ConnMark, firewall.ConnMarkMask)
	for _, ipt := range []string{"iptables", "ip6tables"} {
		ns.MustRun(ipt, "-A", "INPUT", "-p", "tcp", "--dport", fmt.Sprint(testPort), "-j", "CONNMARK", "--set-xmark", xmark)
	}
}

// fillTable adds n flows that are not the cache's, and cache flows from
// extra peers (carrying the mark, as the firewall would have set it): half
// of them from 10.77.0.0/24, half from fd00:77::/64, none of which
// starRules permit.
func fillTable(t *testing.T, rd *Reader, local4, local6 netip.Addr, n, cache int) {
	t.Helper()
	for i := range n {
		peer := netip.AddrFrom4([4]byte{10, 66, byte(i >> 8), byte(i)})
		f := conntrack.NewFlow(uint8(TCP), 0, peer, local4, uint16(30000+i%20000), uint16(8000+i%100), 600, 0)
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: uint8(TCPEstablished)}
		if err := rd.c.Create(f); err != nil {
			t.Fatalf("creating flow %d: %v", i, err)
		}
	}
	for i := range cache {
		peer, local := netip.AddrFrom4([4]byte{10, 77, 0, byte(i)}), local4
		if i%2 == 1 {
			peer, local = netip.MustParseAddr(fmt.Sprintf("fd00:77::%x", i)), local6
		}
		f := conntrack.NewFlow(uint8(TCP), 0, peer, local, uint16(40000+i), testPort, 600, firewall.ConnMark)
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: uint8(TCPEstablished)}
		if err := rd.c.Create(f); err != nil {
			t.Fatalf("creating cache flow %d: %v", i, err)
		}
	}
}

// TestRealFiltersAgree audits one real table under every filter: the
// kernel-filtered dumps must find exactly the peers and verdicts of the
// whole table, violations included, while receiving only the cache's flows.
func TestRealFiltersAgree(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "ip6tables")
	s := nstest.NewStar(t, 2)
	trackConnections(s.Server)
	markCacheFlows(s.Server)
	startDaemon(t, s.Server, s.Addr4, s.Addr6)
	for _, c := range s.Clients {
		connectAndExchange(t, c, netip.AddrPortFrom(s.Addr4, testPort))
		connectAndExchange(t, c, netip.AddrPortFrom(s.Addr6, testPort))
	}
	rd, err := Open(int(s.Server.Handle()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	const noise, extra = 3000, 10
	fillTable(t, rd, s.Addr4, s.Addr6, noise, extra)
	r := starRules(s)

	reports := map[Filter]Report{}
	for _, f := range []Filter{FilterNone, FilterTuple, FilterMark, FilterAuto} {
		rep := Take(context.Background(), rd, r, r.Query(f, cacheMark, ""))
		if rep.Dump.Filter != f && !(f == FilterAuto && rep.Dump.Filter == FilterTuple) {
			t.Errorf("filter %s: dumped with %q (%s)", f, rep.Dump.Filter, rep.Dump.Fallback)
		}
		reports[f] = rep
	}
	full := reports[FilterNone]
	if full.Summary.Flows != 4+extra || full.Summary.Violations != 2+extra {
		t.Fatalf("whole table: %d flows, %d violations (%s); want %d and %d", full.Summary.Flows, full.Summary.Violations, verdicts(full), 4+extra, 2+extra)
	}
	if full.Dump.Received < noise {
		t.Errorf("whole table: received %d flows, want at least %d", full.Dump.Received, noise)
	}
	for _, f := range []Filter{FilterTuple, FilterMark, FilterAuto} {
		rep := reports[f]
		if !reflect.DeepEqual(rep.Peers, full.Peers) || rep.Summary != full.Summary {
			t.Errorf("filter %s: %s %+v\nwhole table: %s %+v", f, verdicts(rep), rep.Summary, verdicts(full), full.Summary)
		}
		// The loopback query flows are not the cache's on other
		// addresses; anything else the kernel sent is a cache flow.
		if rep.Dump.Received > full.Summary.Flows+4 {
			t.Errorf("filter %s: received %d flows for %d cache flows", f, rep.Dump.Received, full.Summary.Flows)
		}
	}
}

// TestRealMarkMissingFallsBack: without a mark to rely on, asking for the
// mark filter reads the whole table and says why.
func TestRealMarkMissingFallsBack(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "ip6tables")
	ns := nstest.New(t)
	rd, err := Open(int(ns.Handle()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	fillTable(t, rd, netip.MustParseAddr("10.213.9.1"), netip.MustParseAddr("fd00:213:9::1"), 50, 2)
	r := Rules{Port: testPort}
	rep := Take(context.Background(), rd, r, r.Query(FilterMark, Mark{}, "cachectl's firewall is not installed"))
	if rep.Dump.Filter != FilterNone || rep.Dump.Received != 52 || rep.Summary.Flows != 2 {
		t.Fatalf("dump %+v, %d cache flows; want the whole table of 52 with 2 cache flows", rep.Dump, rep.Summary.Flows)
	}
	if !slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Kind == KindFullDump }) {
		t.Errorf("findings %+v lack %s", rep.Findings, KindFullDump)
	}
}

// TestRealDecodeMatchesLibrary: the streaming decoder reads every flow as
// ti-mo/conntrack does.
func TestRealDecodeMatchesLibrary(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "ip6tables")
	s := nstest.NewStar(t, 1)
	trackConnections(s.Server)
	startDaemon(t, s.Server, s.Addr4, s.Addr6)
	connectAndExchange(t, s.Clients[0], netip.AddrPortFrom(s.Addr6, testPort))
	rd, err := Open(int(s.Server.Handle()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	fillTable(t, rd, s.Addr4, s.Addr6, 200, 4)
	// The table can gain or lose a flow between the two dumps (the test's
	// own connection settling): compare a pair of dumps that agree in size.
	var want map[Tuple]Flow
	var got []Flow
	for try := 0; try < 5; try++ {
		kf, err := rd.c.Dump(nil)
		if err != nil {
			t.Fatal(err)
		}
		want = map[Tuple]Flow{}
		for i := range kf {
			f := fromKernel(&kf[i])
			f.Mark = kf[i].Mark
			want[f.Orig] = f
		}
		if got, err = rd.Flows(); err != nil {
			t.Fatal(err)
		}
		if len(got) == len(want) {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d flows, the library %d", len(got), len(want))
	}
	for _, f := range got {
		w := want[f.Orig]
		// Timeouts tick down between the two dumps.
		f.Timeout, w.Timeout = 0, 0
		if f != w {
			t.Errorf("decoded %+v\nlibrary %+v", f, w)
		}
	}
}
