package firewalltest

import (
	"context"

	"github.com/cachectl/cachectl/firewall/audit"
)

// Flows is an audit.Source over literal flows: a conntrack table that is
// tracking (Rules conntrack rules) and holds exactly List.
type Flows struct {
	List    []audit.Flow
	DumpErr error // returned by Flows instead of the list
	Rules   int   // conntrack-using rules the probe finds; 0 means not tracking
}

// Flows implements audit.Source.
func (f *Flows) Flows() ([]audit.Flow, error) {
	if f.DumpErr != nil {
		return nil, f.DumpErr
	}
	return f.List, nil
}

// Tracking implements audit.Source.
func (f *Flows) Tracking(_ context.Context, dumpErr error, n int) audit.Tracking {
	if dumpErr != nil {
		return audit.Tracking{Reason: dumpErr.Error()}
	}
	return audit.Tracking{Available: true, Entries: n, RulesChecked: true, ConntrackRules: f.Rules}
}

// Close implements audit.Source.
func (f *Flows) Close() error { return nil }
