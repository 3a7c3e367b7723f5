package netinfo

import (
	"fmt"
	"net/netip"
)

// Path is how this host exchanges packets with one peer: the route it
// answers on, and the reverse-path filter settings that judge the peer's
// packets on their way in. PathTo gathers it; ReversePath judges it.
type Path struct {
	Peer  netip.Addr `json:"peer"`
	Route Route      `json:"route"`
	// RPFilter holds net.ipv4.conf.*.rp_filter; IPv6 has no such switch
	// (its equivalent is a netfilter rpfilter rule), so it is nil there.
	RPFilter *RPFilter `json:"rp_filter,omitempty"`
}

// Route is the kernel's answer to `ip route get PEER`.
type Route struct {
	Iface   string     `json:"interface,omitempty"`
	Src     netip.Addr `json:"source,omitzero"`  // the local address this host would answer from
	Gateway netip.Addr `json:"gateway,omitzero"` // zero when the peer is on-link
	// Type is the route's kind: "unicast", or "local" when the peer is
	// one of this host's addresses, "unreachable", "blackhole", "prohibit".
	Type string `json:"type,omitempty"`
	// Err is why there is no route at all (network unreachable).
	Err string `json:"error,omitempty"`
}

// Reachable reports whether packets to the peer can leave this host.
func (r Route) Reachable() bool { return r.Err == "" && (r.Type == "unicast" || r.Type == "local") }

func (r Route) String() string {
	switch {
	case r.Err != "":
		return "no route: " + r.Err
	case !r.Reachable():
		return "a " + r.Type + " route"
	case r.Gateway.IsValid():
		return fmt.Sprintf("via %s on %s, from %s", r.Gateway, r.Iface, r.Src)
	}
	return fmt.Sprintf("on-link on %s, from %s", r.Iface, r.Src)
}

// RPFilter is the reverse-path filter setting: for "all" and per interface.
type RPFilter struct {
	All   int            `json:"all"`
	Iface map[string]int `json:"interfaces"`
}

// Reverse-path filter modes, as net.ipv4.conf.*.rp_filter takes them.
const (
	RPOff    = 0 // no check
	RPStrict = 1 // the route back to the source must leave by the interface the packet came in on
	RPLoose  = 2 // some route back to the source must exist
)

// Mode is the mode in force on an interface: the kernel uses the higher of
// "all" and the interface's own value.
func (f RPFilter) Mode(iface string) int { return max(f.All, f.Iface[iface]) }

// RPCheck is the reverse-path filter's judgement of the peer's packets.
type RPCheck struct {
	Arrive  string `json:"arrive_interface"` // where the peer's packets come in
	Reverse string `json:"route_interface"`  // where the route back to the peer leaves
	Mode    int    `json:"mode"`
	Drops   bool   `json:"drops"`
	Reason  string `json:"reason"`
}

// ReversePath judges packets from the peer arriving on interface arrive.
// ok is false when there is nothing to judge (IPv6, or no interface).
func (p Path) ReversePath(arrive string) (c RPCheck, ok bool) {
	if p.RPFilter == nil || arrive == "" {
		return RPCheck{}, false
	}
	c = RPCheck{Arrive: arrive, Reverse: p.Route.Iface, Mode: p.RPFilter.Mode(arrive)}
	switch {
	case c.Mode == RPOff:
		c.Reason = fmt.Sprintf("rp_filter is off on %s", arrive)
	case !p.Route.Reachable() || p.Route.Type == "local":
		c.Drops = p.Route.Type != "local"
		c.Reason = fmt.Sprintf("rp_filter=%d on %s and %s", c.Mode, arrive, describeNoRoute(p.Route))
	case c.Mode == RPLoose:
		c.Reason = fmt.Sprintf("rp_filter=2 (loose) on %s: a route back to the peer exists", arrive)
	case p.Route.Iface != arrive:
		c.Drops = true
		c.Reason = fmt.Sprintf("rp_filter=1 (strict) on %s, but the route back to %s leaves by %s", arrive, p.Peer, p.Route.Iface)
	default:
		c.Reason = fmt.Sprintf("rp_filter=1 (strict) on %s, and the route back to the peer leaves by it", arrive)
	}
	return c, true
}

func describeNoRoute(r Route) string {
	if r.Type == "local" {
		return "the peer is a local address"
	}
	return "there is " + r.String() + " back to the peer"
}
