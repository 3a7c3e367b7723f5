package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// TableStatus is how far a flow table kept from conntrack events can be
// trusted: an audit reads it only while InSync.
type TableStatus struct {
	InSync bool      `json:"in_sync"`
	Since  time.Time `json:"in_sync_since,omitzero"` // when the last (re)synchronisation finished
	// Resyncs counts the fresh dumps after the first one, each after lost
	// events or an overflow.
	Resyncs int `json:"resyncs"`
	// Losses counts the times the kernel dropped events (ENOBUFS).
	Losses int `json:"lost_events"`
	// Reason says why the table is not in sync.
	Reason string `json:"reason,omitempty"`
	Ports  []Port `json:"ports"`
	Flows  int    `json:"flow_count"`
	Max    int    `json:"max_flows"`
	// Dump is the kernel filter the last resynchronisation used.
	Dump Filter `json:"dump,omitempty"`
}

// flowKey names a conntrack entry: its original tuple. Events and dumps
// both carry it, and it does not change over the entry's life.
type flowKey struct {
	proto    Proto
	src, dst netip.AddrPort
}

func keyOf(f *Flow) flowKey { return flowKey{f.Proto, f.Orig.Src, f.Orig.Dst} }

// flowEvent is one event on a tracked port, kept while a resync's dump
// runs so it can be replayed over the dump's result.
type flowEvent struct {
	destroy bool
	flow    Flow
}

// flowTable holds the cache ports' flows as events and dumps report
// them. It is not safe for concurrent use; Tracker locks it.
type flowTable struct {
	flows map[flowKey]Flow
	ports []Port
	max   int
	// pending collects events while a resync's dump runs; nil otherwise.
	pending []flowEvent
	syncing bool
	st      TableStatus
}

func newFlowTable(ports []Port, max int) *flowTable {
	t := &flowTable{flows: map[flowKey]Flow{}, ports: slices.Clone(ports), max: max}
	t.st = TableStatus{Ports: t.ports, Max: max, Reason: "not synchronised yet"}
	return t
}

// tracks reports whether a flow whose reply comes from port over proto
// belongs to the table.
func (t *flowTable) tracks(proto Proto, port uint16) bool {
	for _, p := range t.ports {
		if p.Proto == proto && p.Port == port {
			return true
		}
	}
	return false
}

// event applies one conntrack event on a tracked port. While a resync
// runs it is only logged, to be replayed over the dump.
func (t *flowTable) event(destroy bool, f *Flow) {
	if t.syncing {
		if len(t.pending) >= t.max {
			t.outOfSync(fmt.Sprintf("more than %d events on the cache ports during a resynchronisation", t.max))
			return
		}
		t.pending = append(t.pending, flowEvent{destroy, *f})
		return
	}
	if !t.st.InSync {
		return
	}
	t.apply(destroy, f)
}

func (t *flowTable) apply(destroy bool, f *Flow) {
	k := keyOf(f)
	if destroy {
		delete(t.flows, k)
		return
	}
	if _, ok := t.flows[k]; !ok && len(t.flows) >= t.max {
		t.outOfSync(fmt.Sprintf("more than %d flows on the cache ports (the table's bound)", t.max))
		return
	}
	t.flows[k] = *f
}

// lost records that the kernel dropped events: the table no longer
// reflects the kernel's until the next resync.
func (t *flowTable) lost() {
	t.st.Losses++
	t.outOfSync("the kernel dropped conntrack events (socket buffer overflow); resynchronising")
}

// outOfSync drops the table's contents and says why: a table known to be
// incomplete is worth nothing to an audit, and the memory goes back.
func (t *flowTable) outOfSync(reason string) {
	t.st.InSync, t.st.Reason = false, reason
	t.flows = map[flowKey]Flow{}
	if t.syncing {
		t.pending = nil
		t.syncing = false
	}
}

// beginSync starts logging events for a resync whose dump starts now.
// The reason the table fell out of sync stays: it is what an audit that
// falls back meanwhile should tell.
func (t *flowTable) beginSync() {
	reason := t.st.Reason
	if t.st.InSync || reason == "" {
		reason = "resynchronising from a conntrack dump"
	}
	t.outOfSync(reason)
	t.syncing, t.pending = true, []flowEvent{}
}

// finishSync installs a dump's flows and replays the events logged since
// it began, in order: the result is the kernel's state as of the last
// event. A flow the dump read and an event then destroyed is gone; one
// created after the dump passed its bucket comes from its NEW event.
func (t *flowTable) finishSync(dumped map[flowKey]Flow, via Filter, now time.Time) error {
	if !t.syncing {
		return fmt.Errorf("resynchronisation abandoned: %s", t.st.Reason)
	}
	pending := t.pending
	t.syncing, t.pending = false, nil
	t.flows = dumped
	t.st.InSync, t.st.Reason = true, ""
	for i := range pending {
		t.apply(pending[i].destroy, &pending[i].flow)
		if !t.st.InSync {
			return fmt.Errorf("resynchronisation failed: %s", t.st.Reason)
		}
	}
	if !t.st.Since.IsZero() {
		t.st.Resyncs++
	}
	t.st.Since, t.st.Dump = now, via
	return nil
}

// failSync ends a resync that could not dump the table.
func (t *flowTable) failSync(err error) {
	t.outOfSync(fmt.Sprintf("resynchronisation failed: %v", err))
}

// status is the table's state with its current size.
func (t *flowTable) status() TableStatus {
	st := t.st
	st.Flows = len(t.flows)
	st.Ports = slices.Clone(t.ports)
	return st
}
