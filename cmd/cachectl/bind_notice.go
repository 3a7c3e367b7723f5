package main

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

// allowsEveryone reports whether p admits every peer of a family that one
// of the wildcard listeners in bound serves. A wildcard socket serves only
// its own family (0.0.0.0 binds AF_INET, :: an IPV6_V6ONLY AF_INET6
// socket), so ::/0 with only 0.0.0.0 bound lets no extra host in.
func allowsEveryone(p *policy.Policy, bound []netip.AddrPort) (netip.Prefix, bool) {
	for _, pf := range p.Prefixes() {
		if pf.Bits() != 0 {
			continue
		}
		for _, ap := range bound {
			if a := ap.Addr(); a.IsUnspecified() && netinfo.FamilyOf(a) == netinfo.FamilyOf(pf.Addr()) {
				return pf, true
			}
		}
	}
	return netip.Prefix{}, false
}

// announcePeers tells the operator, when the daemon starts, who may connect
// and how to change it, because a secure default that is not explained looks
// like a broken cache.
func announcePeers(w io.Writer, path string, p *policy.Policy, bound []netip.AddrPort) {
	fmt.Fprintf(w, "cachectl bind: peers allowed to connect (policy %s): %s\n", path, daemon.AllowedList(p))
	fmt.Fprintf(w, "cachectl bind: other peers are disconnected right after they connect and counted as denied_connections in 'stats cachectl';\n"+
		"  let a host connect with 'cachectl allow ADDR --policy %s' (applies without a restart)\n", path)
	if pf, ok := allowsEveryone(p, bound); ok {
		fmt.Fprintf(w, "WARNING: listening on every local address while the policy allows every peer (%s):\n"+
			"  any host that can reach this machine can use the cache. Narrow it with 'cachectl revoke %s --policy %s'\n"+
			"  and 'cachectl allow ADDR', or listen on one address with --iface/--addr.\n", pf, pf, path)
	}
}

// familyName is how an operator writes the address's family.
func familyName(a netip.Addr) string {
	if netinfo.FamilyOf(a) == netinfo.IPv6 {
		return "IPv6"
	}
	return "IPv4"
}
