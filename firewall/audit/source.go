package audit

import "context"

// Source is where an audit reads a conntrack table: Reader for the
// kernel's, or literal flows in tests (firewalltest.Flows).
type Source interface {
	// Flows dumps the table.
	Flows() ([]Flow, error)
	// Tracking says whether the dump can be trusted to be complete, given
	// its error and its number of flows (see ProbeTracking).
	Tracking(ctx context.Context, dumpErr error, flows int) Tracking
	Close() error
}
