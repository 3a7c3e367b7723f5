package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/cachectl/cachectl/netinfo"
)

// classify says what kind of address the peer is, from this host's view.
func classify(peer netip.Addr, snap netinfo.Snapshot) addressFacts {
	f := addressFacts{Family: netinfo.FamilyOf(peer), Kind: kindHost}
	if peer.IsLoopback() {
		// lo holds these, but they name a client on this host, never a
		// place the peer is told to listen on.
		f.Kind = kindLoopback
		return f
	}
	for _, ifc := range snap.Interfaces {
		for _, ad := range ifc.Addrs {
			if ad.Addr.WithZone("") == peer.WithZone("") {
				f.Kind, f.Interface = kindLocal, ifc.Name
				return f
			}
		}
	}
	switch {
	case peer.IsUnspecified():
		f.Kind = kindUnspecified
	case peer.IsMulticast() || peer == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		f.Kind = kindMulticast
	case peer.IsLinkLocalUnicast():
		f.Kind = kindLinkLocal
	}
	if f.Kind != kindHost || !peer.Is4() {
		return f
	}
	// The first and last address of a connected IPv4 subnet name the
	// subnet and its broadcast (a /31 and /32 have neither).
	for _, ifc := range snap.Interfaces {
		for _, ad := range ifc.Addrs {
			p := ad.Prefix.Masked()
			if !ad.Addr.Is4() || p.Bits() >= 31 || !p.Contains(peer) {
				continue
			}
			switch peer {
			case p.Addr():
				f.Kind, f.Interface, f.Subnet = kindNetwork, ifc.Name, p.String()
			case lastAddr(p):
				f.Kind, f.Interface, f.Subnet = kindBroadcast, ifc.Name, p.String()
			}
		}
	}
	return f
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// reachOf judges whether the peer can reach an address the daemon listens
// on (listen empty: every address), which one, arriving on which
// interface, and what reverse-path filtering makes of that. Pure.
func reachOf(peer netip.Addr, kind string, snap netinfo.Snapshot, listen []netip.Addr, path netinfo.Path) reachFacts {
	r := reachFacts{Listen: listen, Path: path}
	if r.Listen == nil {
		r.Listen = []netip.Addr{}
	}
	if kind == kindLocal || kind == kindLoopback {
		// This host's own clients reach any listener, over lo.
		r.Reachable, r.Arrive, r.Reason = true, "lo", "the peer is this host: it reaches every listening address over lo"
		r.Target = firstOf(listen, netinfo.FamilyOf(peer))
		return r
	}
	if !path.Route.Reachable() {
		r.Reason = path.Route.String()
		return r
	}
	fam := netinfo.FamilyOf(peer)
	var cands []netip.Addr
	wildcard := len(listen) == 0
	for _, a := range listen {
		switch {
		case netinfo.FamilyOf(a) != fam || a.IsLoopback():
		case a.IsUnspecified():
			wildcard = true
		default:
			cands = append(cands, a.WithZone(""))
		}
	}
	switch {
	case wildcard:
		r.Target, r.Arrive = path.Route.Src, path.Route.Iface
	case len(cands) == 0:
		r.Reason = onlyReason(listen, fam)
		return r
	default:
		r.Target = cands[0]
		if slices.Contains(cands, path.Route.Src) {
			r.Target = path.Route.Src
		}
		r.Arrive = holder(snap, r.Target)
	}
	r.Reachable = true
	r.Reason = fmt.Sprintf("the peer connects to %s, arriving on %s", r.Target, r.Arrive)
	if !wildcard && r.Arrive != path.Route.Iface {
		r.Reason += " (the interface that holds it; replies leave by " + path.Route.Iface + ")"
	}
	if c, ok := path.ReversePath(r.Arrive); ok {
		r.RPFilter = &c
	}
	return r
}

// onlyReason says why none of the listening addresses serves the peer.
func onlyReason(listen []netip.Addr, fam netinfo.Family) string {
	var names []string
	loopbackOnly := true
	for _, a := range listen {
		names = append(names, a.String())
		loopbackOnly = loopbackOnly && a.IsLoopback()
	}
	if loopbackOnly {
		return "the daemon listens on " + strings.Join(names, ", ") + " only"
	}
	return fmt.Sprintf("the daemon listens on no %s address, only on %s", fam, strings.Join(names, ", "))
}

func firstOf(listen []netip.Addr, fam netinfo.Family) netip.Addr {
	for _, a := range listen {
		if netinfo.FamilyOf(a) == fam && !a.IsUnspecified() {
			return a.WithZone("")
		}
	}
	return netip.Addr{}
}

// holder names the interface that has the address.
func holder(snap netinfo.Snapshot, a netip.Addr) string {
	for _, ifc := range snap.Interfaces {
		for _, ad := range ifc.Addrs {
			if ad.Addr.WithZone("") == a {
				return ifc.Name
			}
		}
	}
	return ""
}
