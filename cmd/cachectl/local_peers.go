package main

import (
	"net/netip"

	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

// peerJudge is the policy's verdict on a peer as every enforcement point
// must see it. The firewall admits loopback with "-i lo", and a connection
// from this host to one of its own LAN addresses arrives over lo with that
// LAN address as its source; so when the policy allows loopback, a peer
// whose address is one of this host's own counts as loopback too. Without
// this the daemon would refuse what the firewall lets in, and the audit
// would call the host's own health checks violations.
func peerJudge(p *policy.Policy, local []netip.Addr) func(netip.Addr) (string, bool) {
	own := make(map[netip.Addr]bool, len(local))
	for _, a := range local {
		own[a.WithZone("").Unmap()] = true
	}
	return func(a netip.Addr) (string, bool) {
		if entry, ok := p.Permits(a); ok {
			return entry, true
		}
		if p.LoopbackAllowed() && own[a.WithZone("").Unmap()] {
			return policy.LoopbackEntry, true
		}
		return "", false
	}
}

// hostLocalAddrs lists this host's addresses from netlink; on failure the
// judge falls back to the policy alone, which only errs on the strict side.
func hostLocalAddrs() []netip.Addr {
	snap, err := netinfo.Gather()
	if err != nil {
		return nil
	}
	return snap.LocalAddrs()
}
