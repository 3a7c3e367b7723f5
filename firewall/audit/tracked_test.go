package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// tracking is a kernel probe that finds conntrack tracking.
type tracking struct{}

func (tracking) Flows() ([]Flow, error) { return nil, nil }
func (tracking) Scan(Query, func(*Flow)) (Dump, error) {
	panic("the daemon's table must not be dumped")
}
func (tracking) Tracking(context.Context, error, int) Tracking {
	return Tracking{Available: true, Entries: 3}
}
func (tracking) Close() error { return nil }

// TestGoldenSource pins how a report names its flows' source: the
// daemon's table, or the dump it fell back to and why.
func TestGoldenSource(t *testing.T) {
	flows := []Flow{
		flow(TCP, "10.213.0.10:40000", "10.213.0.1:11211", TCPEstablished),
		flow(TCP, "10.213.0.11:40001", "10.213.0.1:11211", TCPTimeWait),
		flow(TCP, "10.213.0.12:40001", "10.213.0.1:9999", TCPEstablished), // another port: not judged
	}
	st := TableStatus{InSync: true, Since: time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC), Resyncs: 2, Losses: 2}
	rep := Take(context.Background(), FromTable(tracking{}, flows), rules, rules.Query(FilterAuto, Mark{}, ""))
	rep.NoteSource(DaemonSource(4242, st))
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	fallback := Audit(flows[:1], rules)
	fallback.NoteDump(Dump{Requested: FilterAuto, Filter: FilterTuple, Received: 1})
	fallback.NoteSource(FlowSource{Kind: SourceDump, Fallback: "daemon pid 4242: its table is out of sync: resynchronising from a conntrack dump"})
	if err := fallback.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	nstest.Golden(t, "source.txt", text.Bytes())
	js, err := json.MarshalIndent([]FlowSource{rep.Source, fallback.Source}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	nstest.Golden(t, "source.json", append(js, '\n'))
	if rep.Summary.Flows != 2 || rep.Summary.Violations != 1 {
		t.Errorf("judged %d flows with %d violations from the table, want 2 and 1", rep.Summary.Flows, rep.Summary.Violations)
	}
}
