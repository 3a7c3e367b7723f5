package netinfo

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Family is an address family: the one definition every package uses, from
// `--family` flags to the firewall's per-family tables. Its values are the
// IP version numbers, so a Family prints naturally in names like "allow-v4".
type Family uint8

// The families. FamilyAny is only meaningful as a request ("either").
const (
	FamilyAny Family = 0
	IPv4      Family = 4
	IPv6      Family = 6
)

// Families lists the two concrete families, IPv4 first: the order in which
// everything per-family is done and printed.
var Families = []Family{IPv4, IPv6}

func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return "any"
}

// ParseFamily is the one parser of a family as a person writes it. Every
// command takes the same spellings: 4, v4, ipv4, inet; 6, v6, ipv6, inet6;
// and any, all or nothing for both.
func ParseFamily(s string) (Family, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "any", "all":
		return FamilyAny, nil
	case "4", "v4", "ipv4", "inet":
		return IPv4, nil
	case "6", "v6", "ipv6", "inet6":
		return IPv6, nil
	}
	return FamilyAny, fmt.Errorf("unknown address family %q: use 4, 6 or any (also ipv4, ipv6)", s)
}

// MarshalText makes a Family read as "ipv4", "ipv6" or "any" in JSON.
func (f Family) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads any spelling ParseFamily accepts.
func (f *Family) UnmarshalText(b []byte) error {
	v, err := ParseFamily(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Concrete lists the families f stands for: both for FamilyAny.
func (f Family) Concrete() []Family {
	if f == FamilyAny {
		return slices.Clone(Families)
	}
	return []Family{f}
}

// FamilyOf is the one place an address is sorted into a family. An
// IPv4-mapped IPv6 address is IPv4: that is how the kernel sees its packets.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is6() {
		return IPv6
	}
	return IPv4
}

// Has reports whether a listener address belongs to the family. Unlike
// FamilyOf it keeps a mapped address in IPv6: a socket bound to
// ::ffff:10.0.0.1 is an IPv6 socket.
func (f Family) Has(a netip.Addr) bool {
	switch f {
	case IPv4:
		return a.Is4()
	case IPv6:
		return a.Is6()
	}
	return true
}

// ComparePrefix is the one order of prefixes: IPv4 before IPv6, then by
// address, then shorter first. Renderers and files sort with it so that
// equal allowlists give byte-identical output.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// CanonicalPrefix is a prefix as it is stored and compared: masked, and an
// IPv4-mapped prefix turned into the IPv4 prefix it stands for.
func CanonicalPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
	}
	return p.Masked()
}

// CanonicalPrefixes returns ps canonical, sorted by ComparePrefix and
// without exact duplicates. Overlaps are kept: they are what was asked for.
func CanonicalPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, CanonicalPrefix(p))
	}
	slices.SortFunc(out, ComparePrefix)
	return slices.Compact(out)
}
