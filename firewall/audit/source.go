package audit

import "context"

// Source is where an audit reads a conntrack table: Reader for the
// kernel's, or literal flows in tests (firewalltest.Flows).
type Source interface {
	// Flows dumps the whole table.
	Flows() ([]Flow, error)
	// Scan streams the flows q asks for to fn, one at a time, filtered in
	// the kernel where it can. fn must not keep the *Flow: it is reused.
	// The flows may include others than the cache's (Tally.Add skips
	// them), but never lack one of them.
	Scan(q Query, fn func(*Flow)) (Dump, error)
	// Tracking says whether the dump can be trusted to be complete, given
	// its error and its number of flows (see ProbeTracking).
	Tracking(ctx context.Context, dumpErr error, flows int) Tracking
	Close() error
}

// Take audits src: one streamed dump judged flow by flow, with what the
// dump and the tracking probe found noted in the report.
func Take(ctx context.Context, src Source, r Rules, q Query) Report {
	t := NewTally(r)
	d, err := src.Scan(q, t.Add)
	rep := t.Report()
	rep.NoteDump(d)
	rep.NoteTracking(src.Tracking(ctx, err, d.Received))
	return rep
}
