package netinfo

import (
	"net/netip"
	"strconv"
	"strings"
)

// Request is what the operator asked to listen on.
type Request struct {
	Interfaces []string // --iface: listen on the interface's addresses
	Addrs      []string // --addr / -l, raw: "10.0.0.5", "::1", "[fd00::5]", "fe80::1%eth0"
	Family     Family   // restricts both of the above
	Port       uint16
}

// Resolve turns a request into the exact addresses to bind, or explains why
// it cannot be met on this host. Interfaces come first, in request order,
// then addresses; a repeated address is listed once.
//
// An interface contributes its bindable addresses of the family except IPv6
// link-local ones: those change meaning from link to link and clients rarely
// use them, so they are used only when the interface has no other bindable
// address of the family (a link configured with link-local IPv6 only), and
// then with the interface as zone. The wildcards 0.0.0.0 and :: are never
// produced from an interface; they are accepted when given as an address.
func Resolve(s Snapshot, r Request) ([]netip.AddrPort, error) {
	if len(r.Interfaces) == 0 && len(r.Addrs) == 0 {
		return nil, ErrNothingToListen
	}
	var out []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	add := func(a netip.Addr) {
		ap := netip.AddrPortFrom(a, r.Port)
		if !seen[ap] {
			seen[ap] = true
			out = append(out, ap)
		}
	}
	for _, name := range r.Interfaces {
		addrs, err := interfaceAddrs(s, name, r.Family)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			add(a)
		}
	}
	for _, raw := range r.Addrs {
		a, err := ParseAddr(raw)
		if err != nil {
			return nil, err
		}
		if !r.Family.Has(a) {
			return nil, &InvalidAddressError{Input: raw, Reason: "it is not an " + r.Family.String() +
				" address, but --family " + r.Family.String() + " was asked for; drop one of them"}
		}
		if err := CheckListen(s, a); err != nil {
			return nil, err
		}
		if ifc, ok := s.Interface(a.Zone()); ok && a.Zone() != "" {
			a = a.WithZone(ifc.Name) // fe80::1%2 -> fe80::1%eth1, so duplicates show
		}
		add(a)
	}
	return out, nil
}

// interfaceAddrs picks the addresses --iface name stands for.
func interfaceAddrs(s Snapshot, name string, fam Family) ([]netip.Addr, error) {
	ifc, ok := s.Interface(name)
	if !ok {
		return nil, &UnknownInterfaceError{Name: name, Known: s.Names()}
	}
	if !ifc.Usable() {
		return nil, &InterfaceDownError{Name: ifc.Name, AdminUp: ifc.AdminUp, OperState: ifc.OperState}
	}
	var routable, linkLocal []netip.Addr
	var pending *Address
	for i, a := range ifc.Addrs {
		switch {
		case !fam.Has(a.Addr):
		case a.Pending():
			if pending == nil {
				pending = &ifc.Addrs[i]
			}
		case linkLocal6(a.Addr):
			linkLocal = append(linkLocal, a.Addr)
		default:
			routable = append(routable, a.Addr)
		}
	}
	if len(routable) > 0 {
		return routable, nil
	}
	if len(linkLocal) > 0 {
		return linkLocal, nil
	}
	if pending != nil {
		// Nothing bindable yet, but DAD may finish: say so rather than
		// "no address", which would send the operator the wrong way.
		return nil, &TentativeError{Addr: pending.Addr, Interface: ifc.Name, DADFailed: pending.DADFailed}
	}
	have := make([]netip.Prefix, 0, len(ifc.Addrs))
	for _, a := range ifc.Addrs {
		have = append(have, a.Prefix)
	}
	return nil, &NoUsableAddressError{Interface: ifc.Name, Family: fam, Have: have}
}

// ParseAddr reads one listen address as an operator writes it: an IPv4 or
// IPv6 address, optionally in brackets, an IPv6 one optionally with %zone.
// IPv4-mapped IPv6 addresses are taken as the IPv4 address they carry.
func ParseAddr(raw string) (netip.Addr, error) {
	s := strings.TrimSpace(raw)
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, &InvalidAddressError{Input: raw, Reason: "missing ']'; write IPv6 addresses as fd00::5 or [fd00::5]"}
		}
		if end != len(s)-1 {
			return netip.Addr{}, portGiven(raw)
		}
		s = s[1:end]
	}
	if s == "" {
		return netip.Addr{}, &InvalidAddressError{Input: raw, Reason: "empty address; give a local IP address such as 127.0.0.1 or ::1"}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, parseFailure(raw, s)
	}
	if a.Is4In6() && a.Zone() == "" {
		a = a.Unmap()
	}
	return a, nil
}

// parseFailure guesses what the operator meant, to say what to write instead.
func parseFailure(raw, s string) error {
	if host, port, ok := strings.Cut(s, ":"); ok && strings.Count(s, ":") == 1 {
		if _, err := netip.ParseAddr(host); err == nil {
			if _, err := strconv.ParseUint(port, 10, 16); err == nil {
				return portGiven(raw)
			}
		}
	}
	if looksLikeHostname(s) {
		return &InvalidAddressError{Input: raw, Reason: "host names are not accepted, because a name can resolve to addresses this host does not have; give the local IP address itself ('cachectl interfaces' lists them)"}
	}
	return &InvalidAddressError{Input: raw, Reason: "not an IP address; give a local IPv4 or IPv6 address such as 127.0.0.1, ::1 or fe80::1%eth0"}
}

func portGiven(raw string) error {
	return &InvalidAddressError{Input: raw, Reason: "give the address without a port and the port with --port"}
}

func looksLikeHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	letter := false
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return letter
}

// CheckListen reports whether a listener can bind a on this host now, and if
// not, why. It is the check the daemon runs on each -l address before bind.
//
// It is stricter than bind(2) in one way: the kernel lets a socket bind an
// IPv4 address whose interface is down, where it would receive nothing;
// CheckListen refuses that with InterfaceDownError.
func CheckListen(s Snapshot, a netip.Addr) error {
	if err := checkForm(a); err != nil {
		return err
	}
	if a.IsUnspecified() {
		return nil
	}
	if linkLocal6(a) {
		return checkLinkLocal(s, a)
	}
	return checkOn(s, a, s.Interfaces)
}

// checkForm rejects addresses no host state could make bindable.
func checkForm(a netip.Addr) error {
	in := a.String()
	switch {
	case !a.IsValid():
		return &InvalidAddressError{Input: in, Reason: "no address given"}
	case a.IsMulticast():
		return &InvalidAddressError{Input: in, Reason: "a multicast address cannot accept TCP connections; give a unicast address of this host"}
	case a.Zone() != "" && a.WithZone("").IsUnspecified():
		return &InvalidAddressError{Input: in, Reason: "the wildcard :: listens on every interface and takes no zone; drop %" + a.Zone() + " or use --iface " + a.Zone()}
	case a.Zone() != "" && !linkLocal6(a):
		return &InvalidAddressError{Input: in, Reason: "a zone only selects the link of a link-local (fe80::/10) address, and the kernel ignores it on others; drop %" + a.Zone()}
	}
	return nil
}

// checkLinkLocal finds the interface a link-local address's zone names and
// checks the address there.
func checkLinkLocal(s Snapshot, a netip.Addr) error {
	bare := a.WithZone("")
	var carriers []string
	for _, ifc := range s.Interfaces {
		for _, ad := range ifc.Addrs {
			if ad.Prefix.Addr() == bare {
				carriers = append(carriers, ifc.Name)
				break
			}
		}
	}
	if a.Zone() == "" {
		return &ZoneRequiredError{Addr: a, Interfaces: carriers}
	}
	ifc, ok := s.Interface(a.Zone())
	if !ok {
		return &ZoneRequiredError{Addr: a, Interfaces: carriers, Known: s.Names()}
	}
	return checkOn(s, a.WithZone(ifc.Name), []Interface{ifc})
}

// checkOn looks for a among the given interfaces' addresses and reports the
// most useful reason when it is there but not bindable.
func checkOn(s Snapshot, a netip.Addr, ifcs []Interface) error {
	var down *InterfaceDownError
	var pending *TentativeError
	for _, ifc := range ifcs {
		for _, ad := range ifc.Addrs {
			if !covers(ifc, ad, a) {
				continue
			}
			switch {
			case !ifc.Usable():
				if down == nil {
					down = &InterfaceDownError{Name: ifc.Name, AdminUp: ifc.AdminUp, OperState: ifc.OperState, Addr: a}
				}
			case ad.Pending():
				if pending == nil {
					pending = &TentativeError{Addr: a, Interface: ifc.Name, DADFailed: ad.DADFailed}
				}
			case !ad.Pending():
				return nil
			}
		}
	}
	if pending != nil {
		return pending
	}
	if down != nil {
		return down
	}
	return &NotLocalError{Addr: a, Local: s.LocalAddrs()}
}

// covers reports whether binding a is served by address ad of ifc. Besides
// the address itself, the kernel makes the whole subnet of a primary IPv4
// address on a loopback device local (that is why 127.0.0.2 binds on
// Linux); IPv6 has no such rule (::2 is not local).
func covers(ifc Interface, ad Address, a netip.Addr) bool {
	if ad.Prefix.Addr() == a.WithZone("") {
		return true
	}
	return ifc.Loopback && a.Is4() && ad.Prefix.Addr().Is4() && !ad.Secondary && ad.Prefix.Masked().Contains(a)
}
