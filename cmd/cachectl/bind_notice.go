package main

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/policy"
)

// allowsEveryone reports whether p admits every peer of some family.
func allowsEveryone(p *policy.Policy) (netip.Prefix, bool) {
	for _, pf := range p.Prefixes() {
		if pf.Bits() == 0 {
			return pf, true
		}
	}
	return netip.Prefix{}, false
}

// announcePeers tells the operator, when the daemon starts, who may connect
// and how to change it, because a secure default that is not explained looks
// like a broken cache.
func announcePeers(w io.Writer, path string, p *policy.Policy, bound []netip.AddrPort) {
	fmt.Fprintf(w, "cachectl bind: peers allowed to connect (policy %s): %s\n", path, daemon.AllowedList(p))
	fmt.Fprintf(w, "cachectl bind: other peers are disconnected right after they connect and counted as denied_connections;\n"+
		"  let a host connect with 'cachectl allow ADDR --policy %s' (applies without a restart)\n", path)
	wildcard := false
	for _, ap := range bound {
		wildcard = wildcard || ap.Addr().IsUnspecified()
	}
	if !wildcard {
		return
	}
	if pf, ok := allowsEveryone(p); ok {
		fmt.Fprintf(w, "WARNING: listening on every local address while the policy allows every peer (%s):\n"+
			"  any host that can reach this machine can use the cache. Narrow it with 'cachectl revoke %s --policy %s'\n"+
			"  and 'cachectl allow ADDR', or listen on one address with --iface/--addr.\n", pf, pf, path)
	}
}
