package netinfo

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Every error below says what is wrong and what to do about it, because the
// CLI prints it to an operator as is.

// ErrNothingToListen is a Request with neither interfaces nor addresses.
var ErrNothingToListen = errors.New("no listen address given: name a local address with --addr (or -l) or an interface with --iface; 'cachectl interfaces' lists them")

// InvalidAddressError is a listen address that cannot be used whatever the
// host's state: not an IP address, a hostname, a multicast address, a zone
// on an address that has no use for one, or the wrong family.
type InvalidAddressError struct {
	Input  string // as given
	Reason string // what is wrong and what to do
}

func (e *InvalidAddressError) Error() string {
	return fmt.Sprintf("invalid listen address %q: %s", e.Input, e.Reason)
}

// UnknownInterfaceError names an interface the host does not have.
type UnknownInterfaceError struct {
	Name  string
	Known []string
}

func (e *UnknownInterfaceError) Error() string {
	return fmt.Sprintf("no interface named %q on this host; interfaces here: %s ('cachectl interfaces' shows their addresses)",
		e.Name, listOrNone(e.Known))
}

// InterfaceDownError is an interface (or an address on it) that exists but
// cannot carry traffic. The kernel would let the daemon bind an IPv4 address
// of a down link, but the listener would receive nothing, so cachectl refuses.
type InterfaceDownError struct {
	Name      string
	AdminUp   bool       // set up by the operator, but without carrier
	OperState string     // kernel's operational state
	Addr      netip.Addr // the requested address on it, if one was asked for
}

func (e *InterfaceDownError) Error() string {
	what := "interface " + e.Name + " is"
	if e.Addr.IsValid() {
		what = fmt.Sprintf("%s is on interface %s, which is", e.Addr, e.Name)
	}
	fix := fmt.Sprintf("bring it up with 'ip link set %s up'", e.Name)
	if e.AdminUp {
		fix = "it is set up but has no carrier: check its cable, peer or lower device"
	}
	return fmt.Sprintf("%s down (state %s), so a listener there would receive nothing: %s, or pass --wait to wait until it is up",
		what, stateOrDown(e.OperState), fix)
}

func stateOrDown(s string) string {
	if s == "" {
		return "down"
	}
	return s
}

// NoUsableAddressError is an interface that is up but has no address of the
// requested family that a listener can bind.
type NoUsableAddressError struct {
	Interface string
	Family    Family
	Have      []netip.Prefix // every address the interface has, of any family
}

func (e *NoUsableAddressError) Error() string {
	fam := "address"
	switch e.Family {
	case IPv4:
		fam = "IPv4 address"
	case IPv6:
		fam = "IPv6 address"
	}
	have := make([]string, len(e.Have))
	for i, p := range e.Have {
		have[i] = p.String()
	}
	return fmt.Sprintf("interface %s has no usable %s to listen on (it has: %s); assign one with 'ip addr add ADDR/LEN dev %s', choose another --family or --iface, or pass --wait if it is still being configured",
		e.Interface, fam, listOrNone(have), e.Interface)
}

// NotLocalError is an address this host does not have: the operator most
// likely gave a client's address where a local one belongs.
type NotLocalError struct {
	Addr  netip.Addr
	Local []netip.Addr // what the host could listen on instead
}

func (e *NotLocalError) Error() string {
	local := make([]string, len(e.Local))
	for i, a := range e.Local {
		local[i] = a.String()
	}
	return fmt.Sprintf("%s is not an address of this host, so nothing can listen on it. "+
		"--addr and -l choose a LOCAL address to listen on (this host has: %s); they do not choose who may connect. "+
		"To let %s connect, run 'cachectl allow %s'. "+
		"(memcached would fail with \"bind(): Cannot assign requested address\"; cachectl checks the host's addresses over netlink, so net.ipv4.ip_nonlocal_bind makes no difference.)",
		e.Addr, listOrNone(local), e.Addr.WithZone(""), e.Addr.WithZone(""))
}

// ZoneRequiredError is an IPv6 link-local address without a zone, or with a
// zone that names no interface. The same fe80:: address can exist on every
// link, so the kernel cannot bind one without knowing which.
type ZoneRequiredError struct {
	Addr       netip.Addr // as given, with its zone if it had one
	Interfaces []string   // interfaces that carry this address
	Known      []string   // all interfaces, when the zone named none of them
}

func (e *ZoneRequiredError) Error() string {
	bare := e.Addr.WithZone("")
	hint := fmt.Sprintf("add the interface as zone, e.g. %s", bare.WithZone("eth0"))
	if len(e.Interfaces) > 0 {
		hint = fmt.Sprintf("use %s", bare.WithZone(e.Interfaces[0]))
		for _, n := range e.Interfaces[1:] {
			hint += " or " + bare.WithZone(n).String()
		}
	}
	if e.Addr.Zone() != "" {
		return fmt.Sprintf("%s: zone %q names no interface on this host (interfaces: %s); %s",
			e.Addr, e.Addr.Zone(), listOrNone(e.Known), hint)
	}
	return fmt.Sprintf("%s is an IPv6 link-local address, which needs the interface it is on: %s", e.Addr, hint)
}

// TentativeError is an IPv6 address still in duplicate address detection,
// or one whose DAD failed. Binding either gives EADDRNOTAVAIL.
type TentativeError struct {
	Addr      netip.Addr
	Interface string
	DADFailed bool
}

func (e *TentativeError) Error() string {
	if e.DADFailed {
		return fmt.Sprintf("%s on %s failed duplicate address detection: another host on that link uses it; remove it ('ip addr del %s dev %s') and assign an unused address",
			e.Addr, e.Interface, e.Addr.WithZone(""), e.Interface)
	}
	return fmt.Sprintf("%s on %s is still tentative (IPv6 duplicate address detection is running, usually 1-2 s); pass --wait to bind once it completes",
		e.Addr, e.Interface)
}

// IsBadRequest reports whether err means the request itself is wrong for
// this host (exit code 2): an invalid or non-local address, a missing zone,
// an unknown interface, or an interface without an address of the family.
// A down interface and a tentative address are host states that may pass
// (exit code 1; --wait helps), so they are not bad requests.
func IsBadRequest(err error) bool {
	var (
		inv  *InvalidAddressError
		unk  *UnknownInterfaceError
		nl   *NotLocalError
		zone *ZoneRequiredError
		none *NoUsableAddressError
	)
	return errors.Is(err, ErrNothingToListen) || errors.As(err, &inv) || errors.As(err, &unk) ||
		errors.As(err, &nl) || errors.As(err, &zone) || errors.As(err, &none)
}

// permanent reports whether no change of links or addresses can fix err, so
// Wait returns it at once instead of waiting.
func permanent(err error) bool {
	var (
		inv  *InvalidAddressError
		zone *ZoneRequiredError
	)
	if errors.Is(err, ErrNothingToListen) || errors.As(err, &inv) {
		return true
	}
	// Without a zone the request is wrong as written; a zone naming an
	// interface that does not exist yet may still appear.
	return errors.As(err, &zone) && zone.Addr.Zone() == ""
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
