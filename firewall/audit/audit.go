// Package audit proves, from the kernel's connection tracking table, that
// every peer connected to the cache port is one the policy permits.
//
// The core (Audit, CrossCheck, NoteTracking) is pure: it judges literal
// flows against Rules and never touches the kernel. The kernel edge
// (Reader, Watch, ProbeTracking, and Tracker, the table of the cache's
// flows a long-running daemon keeps from conntrack events) reads conntrack
// over netlink and converts at once to this package's types. The package
// refuses to guess: when conntrack is not tracking, or a Tracker has lost
// events, it says so instead of claiming that nobody is connected. It
// reports; it never deletes flows or closes sockets.
package audit

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo"
)

// Proto is a flow's layer-4 protocol number.
type Proto uint8

// The protocols a cache port is served on.
const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// Tuple is one direction of a flow.
type Tuple struct {
	Src netip.AddrPort `json:"src"`
	Dst netip.AddrPort `json:"dst"`
}

// Flow is one conntrack entry, reduced to what the audit judges.
// Its JSON form is how the daemon hands its tracked flows to an audit.
type Flow struct {
	Proto Proto `json:"proto"`
	// Orig is the direction the peer sent; Reply is the direction the
	// cache answers in. Under DNAT they are not mirror images: Reply.Src is
	// where the connection really ends, Orig.Dst what the peer dialled.
	Orig      Tuple    `json:"orig"`
	Reply     Tuple    `json:"reply"`
	TCPState  TCPState `json:"tcp_state,omitempty"`
	Assured   bool     `json:"assured,omitempty"`
	SeenReply bool     `json:"seen_reply,omitempty"`
	// The counters stay zero unless net.netfilter.nf_conntrack_acct=1.
	OrigCounters  firewall.Counters `json:"orig_counters,omitzero"`
	ReplyCounters firewall.Counters `json:"reply_counters,omitzero"`
	Timeout       time.Duration     `json:"timeout,omitempty"`
	Mark          uint32            `json:"mark,omitempty"` // the flow's conntrack mark (see firewall.ConnMark)
}

// Rules say which flows belong to the cache and which peers may make them.
type Rules struct {
	Port    uint16       // TCP port the cache serves
	UDPPort uint16       // UDP port, 0 when UDP is off
	Local   []netip.Addr // addresses the cache is bound to; empty = any local address
	// Permits names the policy entry that allows addr; nil permits nobody.
	Permits func(addr netip.Addr) (entry string, ok bool)
}

// Verdict is the judgement on one peer.
type Verdict string

// Verdicts.
const (
	Permitted Verdict = "permitted"
	Violation Verdict = "violation"
)

// Peer is everything the audit saw from one remote address.
type Peer struct {
	Addr    netip.Addr `json:"addr"`
	Verdict Verdict    `json:"verdict"`
	Entry   string     `json:"entry,omitempty"` // policy entry that permits it
	Flows   int        `json:"flows"`
	// Established counts flows in ESTABLISHED (TCP) or replied UDP flows.
	Established int `json:"established"`
	// Handshaking counts TCP flows whose handshake never completed.
	Handshaking int            `json:"handshaking"`
	States      map[string]int `json:"states"`
	// Targets are the cache endpoints the flows end at ("tcp 10.0.0.1:11211").
	Targets []string `json:"targets"`
	// Dialled lists what the peer connected to when it differs from the
	// cache endpoint (DNAT: port forwards, published container ports).
	Dialled  []string          `json:"dialled,omitempty"`
	FromPeer firewall.Counters `json:"from_peer"`
	ToPeer   firewall.Counters `json:"to_peer"`
}

// Blocked are the firewall's reject counters for one address family:
// rejected attempts never reach the conntrack table, so only these show them.
type Blocked struct {
	Family netinfo.Family `json:"family"`
	firewall.Counters
}

// Summary is the report in numbers.
type Summary struct {
	Flows          int    `json:"flows"`
	Peers          int    `json:"peers"`
	Permitted      int    `json:"permitted"`
	Violations     int    `json:"violations"`
	Established    int    `json:"established"`
	BlockedPackets uint64 `json:"blocked_packets"`
	Errors         int    `json:"errors"` // findings that make the audit unable to vouch
}

// Report is the result of an audit.
type Report struct {
	Port       uint16       `json:"port"`
	UDPPort    uint16       `json:"udp_port"`
	Local      []netip.Addr `json:"local"`
	Accounting bool         `json:"accounting"` // flows carried packet/byte counters
	Peers      []Peer       `json:"peers"`
	Blocked    []Blocked    `json:"blocked"`
	Findings   []Finding    `json:"findings"`
	Dump       Dump         `json:"dump,omitzero"`   // how the table was read; zero for literal flows
	Source     FlowSource   `json:"source,omitzero"` // the daemon's tracked table or a dump; zero for literal flows
	Summary    Summary      `json:"summary"`
}

// Audit judges the flows that end at the cache. A flow belongs to the cache
// when its reply comes from the cache's own address and port: matching the
// reply source rather than the original destination keeps DNATed flows in.
//
// Every TCP state counts. A completed handshake reached the daemon even if
// the flow now sits in TIME_WAIT. A flow still in SYN_SENT/SYN_RECV is
// judged like any other: the kernel confirms a conntrack entry only after
// the packet passed the whole INPUT chain (a REJECTed SYN leaves none), so
// an entry from an unpermitted peer is proof the firewall let it through,
// whether or not it ever sent data. Such peers are counted as Handshaking
// so the reader can tell an open door from an open session.
func Audit(flows []Flow, r Rules) Report {
	t := NewTally(r)
	for i := range flows {
		t.Add(&flows[i])
	}
	return t.Report()
}

// Tally is Audit one flow at a time, so that a conntrack dump is judged as
// it streams in and never held whole: its memory grows with the cache's
// peers, not with the host's table.
type Tally struct {
	r      Rules
	flows  int
	acct   bool
	byAddr map[netip.Addr]*Peer
}

// NewTally starts an audit under r.
func NewTally(r Rules) *Tally { return &Tally{r: r, byAddr: map[netip.Addr]*Peer{}} }

// Add judges one flow; flows that do not end at the cache are skipped. It
// keeps nothing that points into f, so the caller may reuse it.
func (t *Tally) Add(f *Flow) {
	if !t.r.selects(f) {
		return
	}
	t.flows++
	addr := f.Orig.Src.Addr().Unmap().WithZone("")
	p := t.byAddr[addr]
	if p == nil {
		p = &Peer{Addr: addr, States: map[string]int{}}
		p.Verdict, p.Entry = judge(t.r, addr)
		t.byAddr[addr] = p
	}
	p.add(f)
	if f.OrigCounters != (firewall.Counters{}) || f.ReplyCounters != (firewall.Counters{}) {
		t.acct = true
	}
}

// Report is the audit of the flows added so far.
func (t *Tally) Report() Report {
	r := t.r
	rep := Report{Port: r.Port, UDPPort: r.UDPPort, Local: unmapAll(r.Local),
		Peers: []Peer{}, Blocked: []Blocked{}, Findings: []Finding{}, Accounting: t.acct}
	rep.Summary.Flows = t.flows
	for _, p := range t.byAddr {
		q := *p
		q.Targets = slices.Sorted(slices.Values(p.Targets))
		q.Dialled = slices.Sorted(slices.Values(p.Dialled))
		rep.Peers = append(rep.Peers, q)
	}
	sortPeers(rep.Peers)
	rep.summarize()
	return rep
}

// judge asks the policy about one peer address.
func judge(r Rules, addr netip.Addr) (Verdict, string) {
	if r.Permits != nil {
		if entry, ok := r.Permits(addr); ok {
			return Permitted, entry
		}
	}
	return Violation, ""
}

// Selects reports whether f is a flow to the cache under these rules.
func (r Rules) Selects(f Flow) bool { return r.selects(&f) }

func (r Rules) selects(f *Flow) bool {
	var port uint16
	switch f.Proto {
	case TCP:
		port = r.Port
	case UDP:
		port = r.UDPPort
	}
	if port == 0 || f.Reply.Src.Port() != port {
		return false
	}
	if len(r.Local) == 0 {
		return true
	}
	cache := f.Reply.Src.Addr().Unmap().WithZone("")
	for _, l := range r.Local {
		if l.Unmap().WithZone("") == cache {
			return true
		}
	}
	return false
}

// Judge gives the verdict on a single flow, as Watch reports it.
func (r Rules) Judge(f Flow) (Verdict, string) {
	return judge(r, f.Orig.Src.Addr().Unmap().WithZone(""))
}

// StateName is how a flow's state is shown: the TCP state, or for UDP
// whether the cache ever answered.
func (f Flow) StateName() string {
	if f.Proto == TCP {
		return f.TCPState.String()
	}
	if f.SeenReply {
		return "REPLIED"
	}
	return "UNREPLIED"
}

func (p *Peer) add(f *Flow) {
	p.Flows++
	p.States[f.StateName()]++
	switch {
	case f.Proto == TCP && f.TCPState == TCPEstablished, f.Proto == UDP && f.SeenReply:
		p.Established++
	case f.Proto == TCP && f.TCPState.Handshaking():
		p.Handshaking++
	}
	target := fmt.Sprintf("%s %s", f.Proto, unmapPort(f.Reply.Src))
	if !slices.Contains(p.Targets, target) {
		p.Targets = append(p.Targets, target)
	}
	if d := unmapPort(f.Orig.Dst); d != unmapPort(f.Reply.Src) {
		if s := fmt.Sprintf("%s %s", f.Proto, d); !slices.Contains(p.Dialled, s) {
			p.Dialled = append(p.Dialled, s)
		}
	}
	p.FromPeer.Packets += f.OrigCounters.Packets
	p.FromPeer.Bytes += f.OrigCounters.Bytes
	p.ToPeer.Packets += f.ReplyCounters.Packets
	p.ToPeer.Bytes += f.ReplyCounters.Bytes
}

// sortPeers puts violations first, then orders by address, so text and
// JSON output are stable.
func sortPeers(ps []Peer) {
	slices.SortFunc(ps, func(a, b Peer) int {
		if a.Verdict != b.Verdict {
			if a.Verdict == Violation {
				return -1
			}
			return 1
		}
		return a.Addr.Compare(b.Addr)
	})
}

// AddBlocked records the firewall's reject counters.
func (rep *Report) AddBlocked(b []Blocked) {
	rep.Blocked = append(rep.Blocked, b...)
	slices.SortFunc(rep.Blocked, func(x, y Blocked) int { return cmp.Compare(x.Family, y.Family) })
	rep.summarize()
}

// summarize recomputes the summary from peers, blocked counters and findings.
func (rep *Report) summarize() {
	s := Summary{Flows: rep.Summary.Flows, Peers: len(rep.Peers)}
	for _, p := range rep.Peers {
		if p.Verdict == Permitted {
			s.Permitted++
		} else {
			s.Violations++
		}
		s.Established += p.Established
	}
	for _, b := range rep.Blocked {
		s.BlockedPackets += b.Packets
	}
	for _, f := range rep.Findings {
		switch f.Severity {
		case SeverityViolation:
			s.Violations++
		case SeverityError:
			s.Errors++
		}
	}
	rep.Summary = s
}

// Violated reports whether any peer or finding breaks the policy.
func (rep *Report) Violated() bool { return rep.Summary.Violations > 0 }

// Incomplete reports whether a finding keeps the audit from vouching for
// the table (conntrack absent or not tracking).
func (rep *Report) Incomplete() bool { return rep.Summary.Errors > 0 }

func unmapAll(as []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		out = append(out, a.Unmap())
	}
	return out
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}
