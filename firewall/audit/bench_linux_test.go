package audit

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// benchFlows is the table size the benchmarks audit: a busy host's table.
// It fits under nf_conntrack_max (262144 here; read-only inside a child
// namespace on kernel 6.18, so it cannot be raised there).
const benchFlows = 100_000

// benchCacheShare: one flow in this many ends at the cache port; the rest
// are other traffic the audit must skip.
const benchCacheShare = 100

// benchTuple returns flow i: a peer in 10.0.0.0/8 towards 10.213.0.1, on
// the cache port for every benchCacheShare-th flow.
func benchTuple(i int) (src, dst netip.AddrPort) {
	peer := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	dport := uint16(8000 + i%1000)
	if i%benchCacheShare == 0 {
		dport = testPort
	}
	return netip.AddrPortFrom(peer, uint16(20000+i%40000)), netip.AddrPortFrom(netip.MustParseAddr("10.213.0.1"), dport)
}

var benchRules = Rules{Port: testPort, Local: []netip.Addr{netip.MustParseAddr("10.213.0.1")},
	Permits: func(a netip.Addr) (string, bool) { return "10.0.0.0/9", a.As4()[1] < 128 }}

// BenchmarkAudit is the pure core over a 100,000-flow table.
func BenchmarkAudit(b *testing.B) {
	flows := make([]Flow, benchFlows)
	for i := range flows {
		src, dst := benchTuple(i)
		flows[i] = Flow{Proto: TCP, Orig: Tuple{src, dst}, Reply: Tuple{dst, src}, TCPState: TCPEstablished}
	}
	b.ReportAllocs()
	for b.Loop() {
		rep := Audit(flows, benchRules)
		if rep.Summary.Flows != benchFlows/benchCacheShare {
			b.Fatalf("audited %d flows, want %d", rep.Summary.Flows, benchFlows/benchCacheShare)
		}
	}
}

// BenchmarkDumpAudit is what "cachectl audit" pays on a busy host: read
// 100,000 real conntrack entries from a throwaway namespace over netlink,
// under each kernel filter, and judge the cache's flows as they stream in.
// The cache's flows carry the firewall's mark, as its port chain sets it.
func BenchmarkDumpAudit(b *testing.B) {
	nstest.RequireRoot(b)
	ns := nstest.New(b)
	rd, err := Open(int(ns.Handle()))
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	start := time.Now()
	for i := range benchFlows {
		src, dst := benchTuple(i)
		var mark uint32
		if dst.Port() == testPort {
			mark = cacheMark.Value
		}
		f := conntrack.NewFlow(uint8(TCP), 0, src.Addr(), dst.Addr(), src.Port(), dst.Port(), 600, mark)
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: uint8(TCPEstablished)}
		if err := rd.c.Create(f); err != nil {
			b.Fatalf("creating flow %d of %d: %v", i, benchFlows, err)
		}
	}
	b.Logf("created %d conntrack entries in %s", benchFlows, time.Since(start).Round(time.Millisecond))
	for _, filter := range []Filter{FilterNone, FilterTuple, FilterMark} {
		b.Run(string(filter), func(b *testing.B) {
			q := benchRules.Query(filter, cacheMark, "")
			b.ReportAllocs()
			for b.Loop() {
				rep := Take(context.Background(), rd, benchRules, q)
				if rep.Dump.Filter != filter || rep.Summary.Flows != benchFlows/benchCacheShare {
					b.Fatalf("%s: audited %d flows with filter %s, want %d", filter, rep.Summary.Flows, rep.Dump.Filter, benchFlows/benchCacheShare)
				}
			}
		})
	}
}
