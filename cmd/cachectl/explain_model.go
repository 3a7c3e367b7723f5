package main

import (
	"net/netip"
	"time"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo"
)

// explanation is everything explain found about one peer, layer by layer,
// and the verdict drawn from it. It is the --json document, so its field
// names are part of the interface.
type explanation struct {
	Peer      netip.Addr     `json:"peer"`
	Port      uint16         `json:"port"`
	UDPPort   uint16         `json:"udp_port"` // 0: UDP is off
	Policy    string         `json:"policy_file"`
	Address   addressFacts   `json:"address"`
	Reach     reachFacts     `json:"reach"`
	Allow     allowFacts     `json:"policy"`
	Firewall  firewallFacts  `json:"firewall"`
	Daemon    daemonFacts    `json:"daemon"`
	Conntrack conntrackFacts `json:"conntrack"`
	Verdict   verdict        `json:"verdict"`
}

// Address kinds.
const (
	kindHost        = "host"
	kindLocal       = "local"      // one of this host's own addresses
	kindLoopback    = "loopback"   // 127.0.0.0/8 or ::1
	kindLinkLocal   = "link_local" // a host, reachable on one link only
	kindNetwork     = "network"    // the network address of a connected subnet
	kindBroadcast   = "broadcast"
	kindMulticast   = "multicast"
	kindUnspecified = "unspecified"
)

type addressFacts struct {
	Family netinfo.Family `json:"family"`
	Kind   string         `json:"kind"`
	// Interface holds the address (local), or the subnet it is the
	// network or broadcast address of.
	Interface string `json:"interface,omitempty"`
	Subnet    string `json:"subnet,omitempty"`
}

type reachFacts struct {
	// Listen is where the daemon listens; empty means every address.
	Listen     []netip.Addr `json:"listen"`
	ListenFrom string       `json:"listen_from"` // "daemon" (asked) or "policy" (its bind:)
	Path       netinfo.Path `json:"path"`
	// Target is the listening address the peer would connect to, Arrive
	// the interface its packets come in on.
	Target    netip.Addr       `json:"target,omitzero"`
	Arrive    string           `json:"arrive_interface,omitempty"`
	Reachable bool             `json:"reachable"`
	Reason    string           `json:"reason"`
	RPFilter  *netinfo.RPCheck `json:"rp_filter,omitempty"`
}

type allowFacts struct {
	Allowed bool      `json:"allowed"`
	Entry   string    `json:"entry,omitempty"` // "loopback" or the CIDR
	Comment string    `json:"comment,omitempty"`
	Added   time.Time `json:"added,omitzero"`
	Managed bool      `json:"firewall_managed"`
}

type firewallFacts struct {
	Family    netinfo.Family     `json:"family"`
	Available bool               `json:"available"`
	Error     string             `json:"error,omitempty"`
	Installed bool               `json:"installed"`
	InSync    bool               `json:"in_sync"`
	Drift     string             `json:"drift,omitempty"`
	TCP       *firewall.Decision `json:"tcp,omitempty"`
	UDP       *firewall.Decision `json:"udp,omitempty"`
	Warnings  []string           `json:"warnings"`
}

type daemonFacts struct {
	Asked   bool           `json:"asked"`
	Address netip.AddrPort `json:"address,omitzero"`
	Running bool           `json:"running"`
	PID     int            `json:"pid,omitempty"`
	Listen  []netip.Addr   `json:"listen,omitempty"`
	// PerPeer: the daemon answered `stats peer` (stock memcached does not).
	PerPeer    bool      `json:"per_peer"`
	Allowlist  bool      `json:"allowlist"`
	Admits     bool      `json:"admits"`
	Entry      string    `json:"entry,omitempty"`
	Denied     uint64    `json:"denied"`
	LastDenied time.Time `json:"last_denied,omitzero"`
	Note       string    `json:"note,omitempty"`
}

type conntrackFacts struct {
	Tracking bool       `json:"tracking"`
	Note     string     `json:"note,omitempty"`
	Flows    []peerFlow `json:"flows"`
}

type peerFlow struct {
	Proto string         `json:"proto"`
	State string         `json:"state"`
	From  netip.AddrPort `json:"from"`
	To    netip.AddrPort `json:"to"`
}

// verdict is the one answer: a stable code for scripts, the sentence for
// people, why, and the one command that would change it.
type verdict struct {
	Code    string `json:"code"`
	Text    string `json:"text"`
	Why     string `json:"why"`
	Command string `json:"command,omitempty"`
}

// Verdict codes.
const (
	canConnect        = "can_connect"
	refusedByFirewall = "refused_by_firewall"
	notApplied        = "allowed_not_applied"
	closedByDaemon    = "closed_by_daemon"
	notListening      = "not_listening"
	cannotReach       = "cannot_reach_listener"
	noRoute           = "no_route"
	rpFilterDrop      = "rp_filter_drop"
	localAddress      = "local_address"
	notAHost          = "not_a_host"
	uncertain         = "uncertain"
)
