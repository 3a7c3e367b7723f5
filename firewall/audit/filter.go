package audit

import (
	"fmt"
	"strings"
)

// Filter is how an audit asks the kernel for the cache's flows. A busy
// host's table holds hundreds of thousands of flows and the cache owns a
// few; decoding them all costs seconds and hundreds of megabytes, so the
// kernel should send only the cache's.
type Filter string

// Filters, in the order FilterAuto tries them.
const (
	// FilterAuto takes the first filter that applies: tuple, then mark,
	// then none.
	FilterAuto Filter = "auto"
	// FilterTuple asks for flows whose reply comes from the cache port
	// (ctnetlink's CTA_FILTER on the reply tuple, Linux 5.8 and later): the
	// audit's own selection, so it misses nothing. One dump per family and
	// protocol.
	FilterTuple Filter = "tuple"
	// FilterMark asks for flows carrying the conntrack mark that
	// cachectl's firewall sets on the cache port's packets (works on any
	// kernel, one dump in all). A flow idle since before the mark rule was
	// installed carries no mark until its next packet.
	FilterMark Filter = "mark"
	// FilterNone reads the whole table, flow by flow.
	FilterNone Filter = "none"
)

// Filters lists the values ParseFilter accepts.
var Filters = []Filter{FilterAuto, FilterTuple, FilterMark, FilterNone}

// ParseFilter reads a --filter value.
func ParseFilter(s string) (Filter, error) {
	for _, f := range Filters {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Filters))
	for i, f := range Filters {
		names[i] = string(f)
	}
	return "", fmt.Errorf("filter %q: want one of %s", s, strings.Join(names, ", "))
}

// Port is one protocol and port the cache serves on.
type Port struct {
	Proto Proto  `json:"proto"`
	Port  uint16 `json:"port"`
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Proto) }

// Mark is a conntrack mark under a mask: a flow carries it when
// flow.Mark&Mask == Value.
type Mark struct {
	Value, Mask uint32
}

// Query is what an audit asks a Source for.
type Query struct {
	Filter Filter // what the caller asked for; "" means FilterAuto
	Ports  []Port // where the cache's flows end
	// Mark is the mark the firewall sets on the cache's flows; zero when no
	// firewall of cachectl's marks them, and NoMark then says why.
	Mark   Mark
	NoMark string
}

// Query builds the request for r's ports under filter f.
func (r Rules) Query(f Filter, mark Mark, noMark string) Query {
	q := Query{Filter: f, Mark: mark, NoMark: noMark}
	if r.Port != 0 {
		q.Ports = append(q.Ports, Port{TCP, r.Port})
	}
	if r.UDPPort != 0 {
		q.Ports = append(q.Ports, Port{UDP, r.UDPPort})
	}
	return q
}

// Dump says how the table was read: which kernel filter applied and, when
// a filter asked for could not be used, why.
type Dump struct {
	Requested Filter `json:"requested"`
	Filter    Filter `json:"filter"` // the one used: tuple, mark or none
	// Received counts the flows the kernel sent; the audit judged each and
	// kept none of them.
	Received int `json:"received"`
	// Fallback says why a filter asked for was not used.
	Fallback string `json:"fallback,omitempty"`
}

// Text is the dump in one line.
func (d Dump) Text() string {
	s := fmt.Sprintf("conntrack dump: %s, %d flow(s) received", d.describe(), d.Received)
	if d.Fallback != "" {
		s += " (" + d.Fallback + ")"
	}
	return s
}

func (d Dump) describe() string {
	switch d.Filter {
	case FilterTuple:
		return "filtered in the kernel by the reply's protocol and source port"
	case FilterMark:
		return "filtered in the kernel by cachectl's conntrack mark"
	case FilterNone:
		return "the whole table, unfiltered"
	}
	return "not read"
}

// KindFullDump: the kernel could not filter and the audit read every flow.
const KindFullDump = "full_dump"

// NoteDump records the dump, and warns when the audit fell back to reading
// the whole table although a filter was asked for: the result is the same,
// but on a busy host it costs seconds instead of milliseconds.
func (rep *Report) NoteDump(d Dump) {
	rep.Dump = d
	if d.Filter == FilterNone && d.Requested != FilterNone && d.Fallback != "" {
		rep.addFinding(Finding{Kind: KindFullDump, Severity: SeverityWarning,
			Message: "the audit read the whole conntrack table: " + d.Fallback,
			Fix:     "run 'cachectl apply' so the firewall marks the cache's flows (kernels before 5.8 cannot filter a dump by port)"})
	}
}
