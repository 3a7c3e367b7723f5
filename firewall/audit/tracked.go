package audit

import (
	"fmt"
	"time"
)

// Where an audit's flows came from (FlowSource.Kind).
const (
	// SourceDaemon: the running daemon's table, kept from conntrack
	// events (Tracker); the kernel walked nothing for this audit.
	SourceDaemon = "daemon"
	// SourceDump: a conntrack dump, filtered as Report.Dump says.
	SourceDump = "dump"
)

// FlowSource says where an audit read its flows and, for a dump, why the
// daemon's table was not used.
type FlowSource struct {
	Kind string `json:"kind"`
	// For SourceDaemon: the daemon, since when its table is in sync, and
	// how often it had to resynchronise after losing events.
	PID        int       `json:"daemon_pid,omitempty"`
	Since      time.Time `json:"in_sync_since,omitzero"`
	Resyncs    int       `json:"resyncs,omitempty"`
	LostEvents int       `json:"lost_events,omitempty"`
	// Fallback says why a dump was read instead of the daemon's table.
	Fallback string `json:"fallback,omitempty"`
}

// DaemonSource describes flows read from the table of daemon pid.
func DaemonSource(pid int, st TableStatus) FlowSource {
	return FlowSource{Kind: SourceDaemon, PID: pid, Since: st.Since, Resyncs: st.Resyncs, LostEvents: st.Losses}
}

// Text is the source in one line.
func (s FlowSource) Text() string {
	if s.Kind == SourceDaemon {
		return fmt.Sprintf("flows: the daemon's event-tracked table (pid %d), in sync since %s, %d resync(s) after %d loss(es)",
			s.PID, s.Since.UTC().Format(time.RFC3339), s.Resyncs, s.LostEvents)
	}
	if s.Fallback == "" {
		return "flows: a kernel dump"
	}
	return "flows: a kernel dump (the daemon's table was not used: " + s.Fallback + ")"
}

// NoteSource records where the flows came from.
func (rep *Report) NoteSource(s FlowSource) { rep.Source = s }

// tableSource serves flows a daemon handed over. The tracking probe is
// still the kernel reader's: a table in sync with a conntrack that tracks
// nothing would be empty, and the audit must say so rather than vouch.
type tableSource struct {
	Source
	flows []Flow
}

// FromTable is a Source over flows from a daemon's Tracker, with probe
// (a kernel reader of the same namespace) answering Tracking and Close.
func FromTable(probe Source, flows []Flow) Source {
	return tableSource{Source: probe, flows: flows}
}

func (s tableSource) Flows() ([]Flow, error) { return s.flows, nil }

// Scan hands every tracked flow to fn; no dump is read, so the Dump is zero.
func (s tableSource) Scan(_ Query, fn func(*Flow)) (Dump, error) {
	for i := range s.flows {
		f := s.flows[i]
		fn(&f)
	}
	return Dump{}, nil
}
