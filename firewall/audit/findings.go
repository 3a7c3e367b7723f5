package audit

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/cachectl/cachectl/netinfo"
)

// Severity says what a finding does to the audit's verdict.
type Severity string

// Severities: a violation breaks the policy (exit 3); an error means the
// audit cannot vouch for the table (exit 1); a warning is worth reading.
const (
	SeverityViolation Severity = "violation"
	SeverityError     Severity = "error"
	SeverityWarning   Severity = "warning"
)

// Finding kinds, stable for --json consumers.
const (
	KindConntrackUnavailable = "conntrack_unavailable"
	KindNotTracking          = "not_tracking"
	KindTrackingUnknown      = "tracking_unknown"
	KindDaemonOnly           = "daemon_only"
	KindConntrackOnly        = "conntrack_only"
	KindDaemonUnreachable    = "daemon_unreachable"
)

// Finding is something the audit found beyond the per-peer verdicts.
type Finding struct {
	Kind     string   `json:"kind"`
	Severity Severity `json:"severity"`
	Peer     string   `json:"peer,omitempty"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

func (rep *Report) addFinding(f Finding) {
	rep.Findings = append(rep.Findings, f)
	rep.summarize()
}

// Tracking is what the kernel edge learned about whether conntrack can see
// the cache's connections in this network namespace.
type Tracking struct {
	Available bool   // ctnetlink answered a dump
	Reason    string // why not, when !Available
	Entries   int    // flows in the namespace's whole table, any port
	// RulesChecked is false when the firewall rules could not be read;
	// RulesReason then says why.
	RulesChecked bool
	RulesReason  string
	// ConntrackRules counts rules that make the kernel track flows in this
	// namespace (conntrack/state matches, NAT, CT targets, nft ct).
	ConntrackRules int
}

const fixTracking = "run 'cachectl apply' (it installs a conntrack rule), or add one by hand: iptables -I INPUT -m conntrack --ctstate INVALID -j DROP (and ip6tables); connections idle since before that stay invisible until they send a packet"

// NoteTracking turns an empty table into a finding when it cannot be
// trusted. The kernel registers conntrack hooks in a namespace only once a
// rule there needs them, so without such a rule the table stays empty
// however many peers are connected: "0 flows" then proves nothing.
func (rep *Report) NoteTracking(t Tracking) {
	switch {
	case !t.Available:
		rep.addFinding(Finding{Kind: KindConntrackUnavailable, Severity: SeverityError,
			Message: "cannot read the conntrack table: " + t.Reason,
			Fix:     "load the modules (modprobe nf_conntrack nf_conntrack_netlink) and run as root (CAP_NET_ADMIN)"})
	case rep.Summary.Flows > 0 || t.Entries > 0:
		// Something is tracked, so the hooks are in place.
	case t.RulesChecked && t.ConntrackRules == 0:
		rep.addFinding(Finding{Kind: KindNotTracking, Severity: SeverityError,
			Message: "conntrack is not tracking in this network namespace: no firewall rule uses it, so the table is empty whoever is connected",
			Fix:     fixTracking})
	case !t.RulesChecked:
		rep.addFinding(Finding{Kind: KindTrackingUnknown, Severity: SeverityWarning,
			Message: "the conntrack table is empty and the firewall rules could not be read (" + t.RulesReason + "), so it is unknown whether conntrack is tracking",
			Fix:     "check that a rule uses conntrack: iptables-save | grep -e conntrack -e state"})
	}
}

// CrossCheck compares the audit with the daemon's own list of connections.
// A peer the daemon serves but conntrack does not show is reported (and is
// a violation if the policy does not permit it); so is an ESTABLISHED
// conntrack peer the daemon does not know. When conntrack shows no flows
// at all while the daemon has connections, that is reported once as "not
// tracking" instead of peer by peer.
func (rep *Report) CrossCheck(conns []DaemonConn, r Rules) {
	inTable := map[netip.Addr]bool{}
	for _, p := range rep.Peers {
		inTable[p.Addr] = true
	}
	daemon := map[netip.Addr]int{}
	for _, c := range conns {
		if c.Client() && c.Listen.Port() == r.Port {
			daemon[c.Peer.Addr().Unmap().WithZone("")]++
		}
	}
	addrs := sortedKeys(daemon)
	total := 0
	for _, n := range daemon {
		total += n
	}
	if rep.Summary.Flows == 0 && total > 0 && !rep.has(KindNotTracking) {
		rep.addFinding(Finding{Kind: KindNotTracking, Severity: SeverityError,
			Message: fmt.Sprintf("the daemon has %d connection(s) but conntrack shows no flow to port %d: conntrack is not tracking them", total, r.Port),
			Fix:     fixTracking})
	}
	for _, a := range addrs {
		if inTable[a] {
			continue
		}
		v, entry := judge(r, a)
		f := Finding{Kind: KindDaemonOnly, Peer: a.String(), Severity: SeverityWarning,
			Message: fmt.Sprintf("the daemon has %d connection(s) from %s that conntrack does not show (idle since before tracking began, or its entry was deleted); permitted by %q", daemon[a], a, entry)}
		if v == Violation {
			f.Severity = SeverityViolation
			f.Message = fmt.Sprintf("the daemon has %d connection(s) from %s, which the policy does not permit, and conntrack does not show them", daemon[a], a)
		}
		rep.addFinding(f)
	}
	for _, p := range rep.Peers {
		if p.States[TCPEstablished.String()] > 0 && daemon[p.Addr] == 0 {
			rep.addFinding(Finding{Kind: KindConntrackOnly, Peer: p.Addr.String(), Severity: SeverityWarning,
				Message: fmt.Sprintf("conntrack shows %d ESTABLISHED flow(s) from %s that the daemon does not have: another process on the port, or the connection closed in between", p.States[TCPEstablished.String()], p.Addr)})
		}
	}
}

// DaemonUnreachable records that the cross-check could not run.
func (rep *Report) DaemonUnreachable(err error) {
	rep.addFinding(Finding{Kind: KindDaemonUnreachable, Severity: SeverityWarning,
		Message: "no cross-check with the daemon: " + err.Error(),
		Fix:     "pass --daemon ADDR:PORT of a running cachectl daemon, or --daemon '' to skip the check"})
}

func (rep *Report) has(kind string) bool {
	for _, f := range rep.Findings {
		if f.Kind == kind {
			return true
		}
	}
	return false
}

func sortedKeys(m map[netip.Addr]int) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// KindFirewallMissing: the reject counters could not be read for a family.
const KindFirewallMissing = "firewall_missing"

// FirewallMissing records that blocked attempts cannot be counted for
// family (FamilyAny for both), and why.
func (rep *Report) FirewallMissing(family netinfo.Family, why string) {
	msg := "blocked attempts are not counted"
	if family != netinfo.FamilyAny {
		msg += " for " + family.String()
	}
	rep.addFinding(Finding{Kind: KindFirewallMissing, Severity: SeverityWarning,
		Message: msg + ": " + why,
		Fix:     "run 'cachectl apply' to install cachectl's firewall (rejected attempts leave no conntrack entry; only its counters show them)"})
}
