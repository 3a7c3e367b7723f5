package audit

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

// flow builds a flow from peer to cache with the mirror-image reply.
func flow(p Proto, peer, cache string, st TCPState) Flow {
	src, dst := netip.MustParseAddrPort(peer), netip.MustParseAddrPort(cache)
	return Flow{Proto: p, Orig: Tuple{src, dst}, Reply: Tuple{dst, src}, TCPState: st,
		SeenReply: p == TCP && st != TCPSynSent || p == UDP, Assured: st == TCPEstablished}
}

// dnat builds a flow the peer sent to dialled that the kernel rewrote to cache.
func dnat(peer, dialled, cache string, st TCPState) Flow {
	f := flow(TCP, peer, dialled, st)
	f.Reply.Src = netip.MustParseAddrPort(cache)
	return f
}

// permits allows the listed addresses and prefixes, naming the entry.
func permits(entries ...string) func(netip.Addr) (string, bool) {
	return func(a netip.Addr) (string, bool) {
		for _, e := range entries {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				p = netip.PrefixFrom(netip.MustParseAddr(e), netip.MustParseAddr(e).BitLen())
			}
			if p.Contains(a) {
				return e, true
			}
		}
		return "", false
	}
}

var rules = Rules{Port: 11211, Permits: permits("10.213.0.10", "fd00:213::10", "192.168.0.0/16")}

type peerWant struct {
	addr    string
	verdict Verdict
	entry   string
	flows   int
}

func TestAudit(t *testing.T) {
	udpOn := rules
	udpOn.UDPPort = 11211
	bound := rules
	bound.Local = []netip.Addr{netip.MustParseAddr("::ffff:10.213.0.1")}
	tests := []struct {
		name       string
		flows      []Flow
		rules      Rules
		peers      []peerWant
		violations int
		dialled    []string
	}{
		{name: "permitted", flows: []Flow{flow(TCP, "10.213.0.10:40000", "10.213.0.1:11211", TCPEstablished)},
			peers: []peerWant{{"10.213.0.10", Permitted, "10.213.0.10", 1}}},
		{name: "violation", flows: []Flow{
			flow(TCP, "10.213.0.10:40000", "10.213.0.1:11211", TCPEstablished),
			flow(TCP, "10.213.0.11:40001", "10.213.0.1:11211", TCPEstablished)},
			peers: []peerWant{{"10.213.0.11", Violation, "", 1}, {"10.213.0.10", Permitted, "10.213.0.10", 1}}, violations: 1},
		{name: "time wait still counts", flows: []Flow{flow(TCP, "10.213.0.11:40001", "10.213.0.1:11211", TCPTimeWait)},
			peers: []peerWant{{"10.213.0.11", Violation, "", 1}}, violations: 1},
		{name: "handshake only is judged", flows: []Flow{flow(TCP, "10.213.0.11:40001", "10.213.0.1:11211", TCPSynRecv)},
			peers: []peerWant{{"10.213.0.11", Violation, "", 1}}, violations: 1},
		{name: "dnat by reply source", flows: []Flow{dnat("10.213.0.11:40001", "203.0.113.5:8080", "10.213.0.1:11211", TCPEstablished)},
			peers: []peerWant{{"10.213.0.11", Violation, "", 1}}, violations: 1, dialled: []string{"tcp 203.0.113.5:8080"}},
		{name: "dialled the port but forwarded elsewhere", flows: []Flow{dnat("10.213.0.11:40001", "10.213.0.1:11211", "172.17.0.2:80", TCPEstablished)}},
		{name: "other port ignored", flows: []Flow{flow(TCP, "10.213.0.11:40001", "10.213.0.1:22", TCPEstablished)}},
		{name: "udp off", flows: []Flow{flow(UDP, "10.213.0.11:40001", "10.213.0.1:11211", 0)}},
		{name: "udp on", rules: udpOn, flows: []Flow{flow(UDP, "10.213.0.11:40001", "10.213.0.1:11211", 0)},
			peers: []peerWant{{"10.213.0.11", Violation, "", 1}}, violations: 1},
		{name: "ipv6", flows: []Flow{
			flow(TCP, "[fd00:213::10]:40000", "[fd00:213::1]:11211", TCPEstablished),
			flow(TCP, "[fd00:213::11]:40000", "[fd00:213::1]:11211", TCPFinWait)},
			peers: []peerWant{{"fd00:213::11", Violation, "", 1}, {"fd00:213::10", Permitted, "fd00:213::10", 1}}, violations: 1},
		{name: "mapped addresses unmapped", rules: bound, flows: []Flow{
			flow(TCP, "[::ffff:10.213.0.10]:40000", "[::ffff:10.213.0.1]:11211", TCPEstablished),
			flow(TCP, "10.213.0.10:40001", "10.213.0.1:11211", TCPEstablished)},
			peers: []peerWant{{"10.213.0.10", Permitted, "10.213.0.10", 2}}},
		{name: "bound address filters", rules: bound, flows: []Flow{flow(TCP, "10.213.0.11:40001", "10.213.0.2:11211", TCPEstablished)}},
		{name: "prefix entry", flows: []Flow{flow(TCP, "192.168.7.7:40001", "10.213.0.1:11211", TCPEstablished)},
			peers: []peerWant{{"192.168.7.7", Permitted, "192.168.0.0/16", 1}}},
		{name: "no flows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rules
			if r.Port == 0 {
				r = rules
			}
			rep := Audit(tt.flows, r)
			var got []peerWant
			for _, p := range rep.Peers {
				got = append(got, peerWant{p.Addr.String(), p.Verdict, p.Entry, p.Flows})
				if tt.dialled != nil && !slices.Equal(p.Dialled, tt.dialled) {
					t.Errorf("peer %s dialled = %v, want %v", p.Addr, p.Dialled, tt.dialled)
				}
			}
			if !slices.Equal(got, tt.peers) {
				t.Errorf("peers = %+v, want %+v", got, tt.peers)
			}
			if rep.Summary.Violations != tt.violations || rep.Violated() != (tt.violations > 0) {
				t.Errorf("violations = %d, want %d", rep.Summary.Violations, tt.violations)
			}
		})
	}
}

func TestHandshakingAndStates(t *testing.T) {
	rep := Audit([]Flow{
		flow(TCP, "10.213.0.11:1", "10.213.0.1:11211", TCPSynSent),
		flow(TCP, "10.213.0.11:2", "10.213.0.1:11211", TCPSynRecv),
		flow(TCP, "10.213.0.11:3", "10.213.0.1:11211", TCPEstablished),
		flow(TCP, "10.213.0.11:4", "10.213.0.1:11211", TCPTimeWait),
	}, rules)
	p := rep.Peers[0]
	if p.Handshaking != 2 || p.Established != 1 || p.Flows != 4 {
		t.Errorf("peer = %+v, want 2 handshaking, 1 established, 4 flows", p)
	}
	want := map[string]int{"SYN_SENT": 1, "SYN_RECV": 1, "ESTABLISHED": 1, "TIME_WAIT": 1}
	if states(p.States) != states(want) {
		t.Errorf("states = %v, want %v", p.States, want)
	}
}

func TestTCPStateNames(t *testing.T) {
	for s, want := range map[TCPState]string{0: "NONE", 1: "SYN_SENT", 2: "SYN_RECV", 3: "ESTABLISHED", 4: "FIN_WAIT",
		5: "CLOSE_WAIT", 6: "LAST_ACK", 7: "TIME_WAIT", 8: "CLOSE", 9: "SYN_SENT2", 42: "STATE_42"} {
		if s.String() != want {
			t.Errorf("TCPState(%d) = %s, want %s", s, s, want)
		}
	}
}

func TestNoteTracking(t *testing.T) {
	one := []Flow{flow(TCP, "10.213.0.10:1", "10.213.0.1:11211", TCPEstablished)}
	tests := []struct {
		name  string
		flows []Flow
		tr    Tracking
		kind  string
	}{
		{"unavailable", nil, Tracking{Reason: "protocol not supported"}, KindConntrackUnavailable},
		{"no conntrack rule", nil, Tracking{Available: true, RulesChecked: true}, KindNotTracking},
		{"rules unreadable", nil, Tracking{Available: true, RulesReason: "iptables-save: not found"}, KindTrackingUnknown},
		{"empty but a rule tracks", nil, Tracking{Available: true, RulesChecked: true, ConntrackRules: 1}, ""},
		{"other flows in table", nil, Tracking{Available: true, RulesChecked: true, Entries: 5}, ""},
		{"flows seen", one, Tracking{Available: true, RulesChecked: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Audit(tt.flows, rules)
			rep.NoteTracking(tt.tr)
			if got := kinds(rep); got != tt.kind {
				t.Errorf("findings = %q, want %q", got, tt.kind)
			}
			if want := tt.kind == KindConntrackUnavailable || tt.kind == KindNotTracking; rep.Incomplete() != want {
				t.Errorf("Incomplete() = %v, want %v", rep.Incomplete(), want)
			}
		})
	}
}

func kinds(rep Report) string {
	var ks []string
	for _, f := range rep.Findings {
		k := f.Kind
		if f.Peer != "" {
			k += " " + f.Peer + " " + string(f.Severity)
		}
		ks = append(ks, k)
	}
	return strings.Join(ks, ",")
}

func conn(fd int, peer, listen, state string) DaemonConn {
	return DaemonConn{FD: fd, Proto: "tcp", Peer: netip.MustParseAddrPort(peer), Listen: netip.MustParseAddrPort(listen), State: state}
}

func TestCrossCheck(t *testing.T) {
	listening := DaemonConn{FD: 26, Proto: "tcp", Peer: netip.MustParseAddrPort("10.213.0.1:11211"), State: "conn_listening"}
	c10 := conn(27, "10.213.0.10:40000", "10.213.0.1:11211", "conn_parse_cmd")
	c11 := conn(28, "10.213.0.11:40000", "10.213.0.1:11211", "conn_new_cmd")
	est10 := flow(TCP, "10.213.0.10:40000", "10.213.0.1:11211", TCPEstablished)
	tests := []struct {
		name  string
		flows []Flow
		conns []DaemonConn
		want  string
		viol  int
	}{
		{"agree", []Flow{est10}, []DaemonConn{listening, c10}, "", 0},
		{"no flows but daemon conns", nil, []DaemonConn{listening, c10}, "not_tracking,daemon_only 10.213.0.10 warning", 0},
		{"daemon only, not permitted", []Flow{est10}, []DaemonConn{c10, c11}, "daemon_only 10.213.0.11 violation", 1},
		{"conntrack only", []Flow{est10}, []DaemonConn{listening}, "conntrack_only 10.213.0.10 warning", 0},
		{"time wait needs no daemon conn", []Flow{flow(TCP, "10.213.0.10:1", "10.213.0.1:11211", TCPTimeWait)}, nil, "", 0},
		{"not tracking reported once", nil, []DaemonConn{c10}, "not_tracking,daemon_only 10.213.0.10 warning", 0},
		{"other port's conns ignored", nil, []DaemonConn{conn(29, "10.213.0.11:1", "10.213.0.1:9999", "conn_new_cmd")}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Audit(tt.flows, rules)
			if strings.HasSuffix(tt.name, "once") {
				rep.NoteTracking(Tracking{Available: true, RulesChecked: true})
			}
			rep.CrossCheck(tt.conns, rules)
			if got := kinds(rep); got != tt.want {
				t.Errorf("findings = %q, want %q", got, tt.want)
			}
			if rep.Summary.Violations != tt.viol {
				t.Errorf("violations = %d, want %d", rep.Summary.Violations, tt.viol)
			}
		})
	}
}

// TestGolden pins the text and JSON forms of a report with every part.
func TestGolden(t *testing.T) {
	flows := []Flow{
		flow(TCP, "10.213.0.10:40000", "10.213.0.1:11211", TCPEstablished),
		flow(TCP, "10.213.0.10:40002", "10.213.0.1:11211", TCPTimeWait),
		flow(TCP, "10.213.0.11:40001", "10.213.0.1:11211", TCPEstablished),
		dnat("[fd00:213::12]:5000", "[fd00:213::99]:8080", "[fd00:213::1]:11211", TCPSynRecv),
	}
	flows[0].OrigCounters = firewall.Counters{Packets: 6, Bytes: 400}
	flows[0].ReplyCounters = firewall.Counters{Packets: 4, Bytes: 300}
	rep := Audit(flows, rules)
	rep.AddBlocked([]Blocked{{netinfo.IPv6, firewall.Counters{Packets: 2, Bytes: 160}}, {netinfo.IPv4, firewall.Counters{Packets: 3, Bytes: 180}}})
	rep.CrossCheck([]DaemonConn{conn(27, "10.213.0.10:40000", "10.213.0.1:11211", "conn_parse_cmd")}, rules)
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	nstest.Golden(t, "report.txt", text.Bytes())
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	nstest.Golden(t, "report.json", append(js, '\n'))
}

// TestGoldenIncomplete pins the report that refuses to call an empty,
// untracked table clean, and the hint when counters are off.
func TestGoldenIncomplete(t *testing.T) {
	rep := Audit(nil, rules)
	rep.NoteTracking(Tracking{Available: true, RulesChecked: true})
	rep.CrossCheck([]DaemonConn{conn(27, "10.213.0.11:40000", "10.213.0.1:11211", "conn_parse_cmd")}, rules)
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	quiet := Audit([]Flow{flow(TCP, "10.213.0.10:1", "10.213.0.1:11211", TCPEstablished)}, rules)
	if err := quiet.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	nstest.Golden(t, "incomplete.txt", text.Bytes())
}
