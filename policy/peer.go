package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cachectl/cachectl/netinfo"
)

// LoopbackEntry is the entry name Permits reports for loopback peers.
const LoopbackEntry = "loopback"

var (
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	loopback6 = netip.IPv6Loopback()
)

// ParsePeer reads an allowlist entry: an address (made a /32 or /128) or a
// CIDR without host bits. IPv4-mapped IPv6 forms become plain IPv4, because
// Permits matches IPv4 peers by their IPv4 address.
func ParsePeer(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty peer: give an IP address (10.0.0.5) or a CIDR (10.0.0.0/24)")
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("%q has a zone: peers are matched by address alone, write it without %%zone", s)
	}
	addrPart, bitsPart, hasBits := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrPart)
	if err != nil {
		if looksLikeName(addrPart) {
			return netip.Prefix{}, fmt.Errorf("%q is a name: cachectl takes addresses, not names; resolve it and allow its addresses", s)
		}
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR: write an address like 10.0.0.5 or fd00::5, or a CIDR like 10.0.0.0/24", s)
	}
	if !hasBits {
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: prefix length %q is not valid for IPv%d: use 0-%d", s, bitsPart, ipVersion(addr), addr.BitLen())
	}
	if masked := pfx.Masked(); masked != pfx {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set: did you mean %s (the network) or %s (the one host)?", s, masked, addr)
	}
	if addr.Is4In6() {
		// Masked and mapped implies at least /96: the ffff bits are set.
		return netip.PrefixFrom(addr.Unmap(), pfx.Bits()-96), nil
	}
	return pfx, nil
}

func ipVersion(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// looksLikeName tells a hostname from a mistyped address, to say the right thing.
func looksLikeName(s string) bool {
	letter := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			letter = true
		case r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	// Hex-only words like "fe" or "cafe" are usually broken IPv6, not names.
	return letter && strings.ContainsAny(strings.ToLower(s), "ghijklmnopqrstuvwxyz.")
}

// index answers Permits with one map probe per distinct prefix length,
// longest first, so the most specific entry names the match.
type index struct {
	n      int                     // len(Peers.Allowed) when built
	names  []string                // Peers.Allowed[i].Prefix, as text
	lens4  []int                   // distinct IPv4 prefix lengths, descending
	lens6  []int                   // distinct IPv6 prefix lengths, descending
	byPfx  map[netip.Prefix]string // masked prefix -> entry name
	linear bool                    // too few entries to be worth the map
}

// linearMax is where a scan stops beating map probes.
const linearMax = 16

// Reindex rebuilds what Permits uses to stay fast and allocation-free.
// Load, Parse, Default and Edit return indexed policies; after Allow, Revoke
// or changing Peers.Allowed yourself, call Reindex before sharing the policy.
// Without it Permits is still correct, only slower.
func (p *Policy) Reindex() {
	ix := &index{n: len(p.Peers.Allowed), linear: len(p.Peers.Allowed) <= linearMax}
	for _, e := range p.Peers.Allowed {
		ix.names = append(ix.names, e.Prefix.Masked().String())
	}
	if !ix.linear {
		ix.byPfx = make(map[netip.Prefix]string, len(p.Peers.Allowed))
		seen4, seen6 := map[int]bool{}, map[int]bool{}
		for i, e := range p.Peers.Allowed {
			pf := e.Prefix.Masked()
			if _, dup := ix.byPfx[pf]; !dup {
				ix.byPfx[pf] = ix.names[i]
			}
			if pf.Addr().Is4() && !seen4[pf.Bits()] {
				seen4[pf.Bits()] = true
				ix.lens4 = append(ix.lens4, pf.Bits())
			} else if pf.Addr().Is6() && !seen6[pf.Bits()] {
				seen6[pf.Bits()] = true
				ix.lens6 = append(ix.lens6, pf.Bits())
			}
		}
		slices.Sort(ix.lens4)
		slices.Reverse(ix.lens4)
		slices.Sort(ix.lens6)
		slices.Reverse(ix.lens6)
	}
	p.idx = ix
}

// Permits reports whether peer a may connect and which entry allows it
// ("loopback" or the CIDR). It does not allocate: the daemon calls it on
// every accept. A Policy must not be changed while Permits runs: swap in a
// new one instead (see Watch).
func (p *Policy) Permits(a netip.Addr) (entry string, ok bool) {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return "", false
	}
	if p.Peers.AllowLoopback && (loopback4.Contains(a) || a == loopback6) {
		return LoopbackEntry, true
	}
	ix := p.idx
	if ix == nil || ix.linear || ix.n != len(p.Peers.Allowed) {
		return p.permitsLinear(a)
	}
	lens := ix.lens4
	if a.Is6() {
		lens = ix.lens6
	}
	for _, bits := range lens {
		pf, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if name, ok := ix.byPfx[pf]; ok {
			return name, true
		}
	}
	return "", false
}

// permitsLinear picks the most specific matching entry, like the index does.
func (p *Policy) permitsLinear(a netip.Addr) (string, bool) {
	best := -1
	for i, e := range p.Peers.Allowed {
		if e.Prefix.Contains(a) && (best < 0 || e.Prefix.Bits() > p.Peers.Allowed[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	if ix := p.idx; ix != nil && ix.n == len(p.Peers.Allowed) {
		return ix.names[best], true
	}
	// Only reached for a stale index; the String allocation is acceptable there.
	return p.Peers.Allowed[best].Prefix.String(), true
}

// Prefixes returns the allowed prefixes, masked, deduplicated and sorted
// (IPv4 before IPv6, then by address, then by length), so renderers are
// deterministic. Loopback is not included; see LoopbackAllowed.
func (p *Policy) Prefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(p.Peers.Allowed))
	for _, e := range p.Peers.Allowed {
		out = append(out, e.Prefix)
	}
	return netinfo.CanonicalPrefixes(out)
}

// AllowStatus is what Allow did.
type AllowStatus string

const (
	// Added: the peer is in the allowlist now.
	Added AllowStatus = "added"
	// Duplicate: an entry already covered the peer; nothing changed.
	Duplicate AllowStatus = "already_allowed"
)

// AllowResult tells the caller what to report about one Allow.
type AllowResult struct {
	Prefix netip.Prefix `json:"cidr"`
	Status AllowStatus  `json:"status"`
	// CoveredBy names an existing entry ("loopback" or a CIDR) that already
	// permits every address of Prefix; the entry is added all the same.
	CoveredBy string `json:"covered_by,omitempty"`
	// Covers lists existing entries the new one makes redundant.
	Covers []netip.Prefix `json:"covers,omitempty"`
	// Everyone is set when Prefix is 0.0.0.0/0 or ::/0: every peer may connect.
	Everyone bool `json:"everyone,omitempty"`
}

// Allow adds prefix to the allowlist unless it is already there.
func (p *Policy) Allow(prefix netip.Prefix, comment string, now time.Time) AllowResult {
	prefix = prefix.Masked()
	r := AllowResult{Prefix: prefix, Status: Added, Everyone: prefix.Bits() == 0}
	for _, e := range p.Peers.Allowed {
		if e.Prefix.Masked() == prefix {
			r.Status = Duplicate
			return r
		}
	}
	r.CoveredBy = p.coveredBy(prefix)
	for _, e := range p.Peers.Allowed {
		if prefix.Bits() < e.Prefix.Bits() && prefix.Contains(e.Prefix.Addr()) {
			r.Covers = append(r.Covers, e.Prefix.Masked())
		}
	}
	p.Peers.Allowed = append(p.Peers.Allowed, Peer{Prefix: prefix, Comment: comment, Added: now.UTC().Truncate(time.Second)})
	p.idx = nil // rebuilt by Reindex (Edit does it), so a batch of Allows stays linear
	return r
}

// CoveredBy names the entry, other than prefix itself, that already permits
// every address in prefix, or "" when none does.
func (p *Policy) CoveredBy(prefix netip.Prefix) string { return p.coveredBy(prefix.Masked()) }

func (p *Policy) coveredBy(prefix netip.Prefix) string {
	inLoopback := prefix.Addr().Is4() && prefix.Bits() >= loopback4.Bits() && loopback4.Contains(prefix.Addr()) ||
		prefix == netip.PrefixFrom(loopback6, 128)
	if p.Peers.AllowLoopback && inLoopback {
		return LoopbackEntry
	}
	best := netip.Prefix{}
	for _, e := range p.Peers.Allowed {
		ep := e.Prefix.Masked()
		if ep != prefix && ep.Bits() <= prefix.Bits() && ep.Contains(prefix.Addr()) &&
			(!best.IsValid() || ep.Bits() > best.Bits()) {
			best = ep
		}
	}
	if best.IsValid() {
		return best.String()
	}
	return ""
}

// Revoke removes prefix from the allowlist and reports whether it was there.
// Addresses inside it may still be permitted by a wider entry (see CoveredBy).
func (p *Policy) Revoke(prefix netip.Prefix) bool {
	prefix = prefix.Masked()
	n := len(p.Peers.Allowed)
	p.Peers.Allowed = slices.DeleteFunc(p.Peers.Allowed, func(e Peer) bool { return e.Prefix.Masked() == prefix })
	p.idx = nil
	return len(p.Peers.Allowed) != n
}

// Judge is the policy's verdict on a peer as every enforcement point must
// see it, given this host's own addresses. The firewall admits loopback with
// "-i lo", and a connection from this host to one of its own LAN addresses
// arrives over lo with that LAN address as its source; so when the policy
// allows loopback, a peer whose address is one of this host's own counts as
// loopback too. Without this the daemon would refuse what the firewall lets
// in, and the audit would call the host's own health checks violations.
func (p *Policy) Judge(own []netip.Addr) func(netip.Addr) (entry string, ok bool) {
	mine := make(map[netip.Addr]bool, len(own))
	for _, a := range own {
		mine[a.WithZone("").Unmap()] = true
	}
	return func(a netip.Addr) (string, bool) {
		if entry, ok := p.Permits(a); ok {
			return entry, true
		}
		if p.LoopbackAllowed() && mine[a.WithZone("").Unmap()] {
			return LoopbackEntry, true
		}
		return "", false
	}
}
