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

// Scan implements audit.Source the way a kernel with the tuple filter
// does: auto and tuple send the flows whose reply comes from one of the
// query's ports, mark those carrying its mark, none all of them.
func (f *Flows) Scan(q audit.Query, fn func(*audit.Flow)) (audit.Dump, error) {
	d := audit.Dump{Requested: q.Filter, Filter: q.Filter}
	if d.Requested == "" || d.Requested == audit.FilterAuto {
		d.Requested, d.Filter = audit.FilterAuto, audit.FilterTuple
	}
	if f.DumpErr != nil {
		return d, f.DumpErr
	}
	for i := range f.List {
		fl := f.List[i]
		if sends(d.Filter, q, &fl) {
			d.Received++
			fn(&fl)
		}
	}
	return d, nil
}

func sends(filter audit.Filter, q audit.Query, fl *audit.Flow) bool {
	switch filter {
	case audit.FilterTuple:
		for _, p := range q.Ports {
			if fl.Proto == p.Proto && fl.Reply.Src.Port() == p.Port {
				return true
			}
		}
		return false
	case audit.FilterMark:
		return fl.Mark&q.Mark.Mask == q.Mark.Value
	}
	return true
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
