// Package netinfo knows which addresses this host can really listen on and
// explains why a requested listen address is wrong before anything binds.
//
// It is split in two: gathering reads links and addresses from netlink into a
// Snapshot (the only part that touches the kernel), and judging (Resolve,
// CheckListen) is a pure function of a Snapshot and a Request. Wait joins
// them for hosts whose network comes up after the cache.
//
// netinfo never changes the host: it adds no address, raises no link and
// does not decide which peers may connect (that is the policy's and the
// firewall's job). A listen address is a LOCAL address; the classic mistake
// of passing a client's address is reported as NotLocalError.
package netinfo

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Snapshot is the host's interfaces and addresses at one moment.
type Snapshot struct {
	Interfaces []Interface
}

// Interface is one link with the addresses assigned to it.
type Interface struct {
	Name      string
	Index     int
	Kind      string // netlink link type: "device", "veth", "bridge", "dummy", ...
	AdminUp   bool   // IFF_UP: the operator set the link up
	OperState string // RFC 2863 state as the kernel names it: "up", "down", "unknown", "lowerlayerdown", ...
	Loopback  bool
	Addrs     []Address
}

// Address is one address on an interface with the kernel's flags.
type Address struct {
	// Prefix is the address with its prefix length; a Prefix cannot carry a
	// zone, so Addr holds the address as the daemon must bind it.
	Prefix netip.Prefix
	// Addr is Prefix.Addr(), with the interface name as zone for IPv6
	// link-local addresses (the kernel refuses to bind those without one).
	Addr       netip.Addr
	Scope      Scope
	Tentative  bool // IPv6 duplicate address detection still running; bind fails
	DADFailed  bool // DAD found another host using this address; it never becomes usable
	Optimistic bool // RFC 4429: usable while DAD runs, so tentative does not block it
	Secondary  bool // IPv4: not the first address of its subnet on this link
	Deprecated bool // preferred lifetime over: still bindable, not chosen as a source
	Permanent  bool // configured statically rather than autoconfigured
}

// Usable reports whether the interface can carry traffic: set up by the
// operator and not reported down. Loopback, dummy and some tun devices
// report "unknown" rather than "up", so unknown counts as up.
func (i Interface) Usable() bool {
	return i.AdminUp && (i.OperState == "up" || i.OperState == "unknown")
}

// Pending reports whether DAD keeps the address from being bound now.
func (a Address) Pending() bool {
	return a.DADFailed || (a.Tentative && !a.Optimistic)
}

// linkLocal6 reports whether the address is an IPv6 link-local unicast
// address, which is only meaningful together with an interface (zone).
func linkLocal6(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && a.IsLinkLocalUnicast()
}

// Interface finds an interface by name, or by index when name is a number
// (the kernel accepts numeric zones such as fe80::1%2).
func (s Snapshot) Interface(name string) (Interface, bool) {
	for _, ifc := range s.Interfaces {
		if ifc.Name == name || fmt.Sprint(ifc.Index) == name {
			return ifc, true
		}
	}
	return Interface{}, false
}

// Names lists the interface names in snapshot order.
func (s Snapshot) Names() []string {
	names := make([]string, 0, len(s.Interfaces))
	for _, ifc := range s.Interfaces {
		names = append(names, ifc.Name)
	}
	return names
}

// LocalAddrs lists every address a listener can bind now: on a usable
// interface and not held by DAD. Link-local IPv6 addresses carry their zone.
func (s Snapshot) LocalAddrs() []netip.Addr {
	var out []netip.Addr
	for _, ifc := range s.Interfaces {
		if !ifc.Usable() {
			continue
		}
		for _, a := range ifc.Addrs {
			if !a.Pending() {
				out = append(out, a.Addr)
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare) // IPv4 first, then by value
	return slices.Compact(out)
}

// Sort puts interfaces in index order and addresses IPv4 first, then by
// value, so equal hosts give equal snapshots whatever order netlink used.
func (s *Snapshot) Sort() {
	slices.SortFunc(s.Interfaces, func(a, b Interface) int {
		if a.Index != b.Index {
			return a.Index - b.Index
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i := range s.Interfaces {
		slices.SortFunc(s.Interfaces[i].Addrs, func(a, b Address) int {
			if c := a.Addr.Compare(b.Addr); c != 0 {
				return c
			}
			return a.Prefix.Bits() - b.Prefix.Bits()
		})
	}
}

// Scope is the kernel's address scope (rtnetlink RT_SCOPE_*).
type Scope uint8

// Scopes as the kernel numbers them.
const (
	ScopeGlobal Scope = 0   // RT_SCOPE_UNIVERSE
	ScopeSite   Scope = 200 // RT_SCOPE_SITE
	ScopeLink   Scope = 253 // RT_SCOPE_LINK
	ScopeHost   Scope = 254 // RT_SCOPE_HOST
)

func (s Scope) String() string {
	switch s {
	case ScopeGlobal:
		return "global"
	case ScopeSite:
		return "site"
	case ScopeLink:
		return "link"
	case ScopeHost:
		return "host"
	}
	return fmt.Sprintf("scope-%d", uint8(s))
}

// MarshalText makes JSON show the scope by name.
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
