// Package firewall renders cachectl's peer allowlist as iptables rules and
// loads them into the kernel.
//
// cachectl owns only the chains whose names start with ChainPrefix in the
// filter table of each family, plus one jump rule at the top of INPUT. It
// never loads a flushing restore and never edits a chain it does not own, so
// whatever else the host's firewall holds is left exactly as it was.
//
// The render (Spec -> Ruleset -> bytes) is pure; Apply, Status and Remove
// talk to the kernel only through an Applier.
package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Family is an address family with its own iptables binaries and tables.
type Family int

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Families lists both families in the order they are applied.
var Families = []Family{IPv4, IPv6}

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// MarshalText makes a Family read as "ipv4"/"ipv6" in JSON.
func (f Family) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads "ipv4"/"ipv6" (or "4"/"6").
func (f *Family) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ipv4", "4":
		*f = IPv4
	case "ipv6", "6":
		*f = IPv6
	default:
		return fmt.Errorf("address family %q is neither ipv4 nor ipv6", b)
	}
	return nil
}

// FamilyOf is the one place an address is sorted into a family. An
// IPv4-mapped IPv6 address is IPv4: that is how the kernel sees its packets.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is6() {
		return IPv6
	}
	return IPv4
}

// Verdict is what happens to packets from peers not on the allowlist.
type Verdict string

const (
	// VerdictReject answers with a TCP reset (or ICMP port unreachable for
	// UDP), so a refused client fails at once instead of timing out.
	VerdictReject Verdict = "reject"
	// VerdictDrop discards silently: the client hangs until its own timeout.
	VerdictDrop Verdict = "drop"
)

// Spec is everything the firewall needs from the policy.
type Spec struct {
	Port     uint16         // TCP port of the cache; required
	UDPPort  uint16         // UDP port; 0 means UDP is off (nothing rendered for it)
	Allow    []netip.Prefix // peers allowed to connect, both families mixed
	Loopback bool           // whether local processes may connect (see loopbackRule)
	Verdict  Verdict        // default for everyone else; "" means reject
}

// ErrInvalidSpec is wrapped by every Spec validation error.
var ErrInvalidSpec = errors.New("invalid firewall spec")

// Validate says what is wrong with a Spec, in terms an operator can fix.
func (s Spec) Validate() error {
	if s.Port == 0 {
		return fmt.Errorf("%w: the TCP port is 0; set bind.port in the policy", ErrInvalidSpec)
	}
	switch s.Verdict {
	case "", VerdictReject, VerdictDrop:
	default:
		return fmt.Errorf("%w: verdict %q is neither %q nor %q", ErrInvalidSpec, s.Verdict, VerdictReject, VerdictDrop)
	}
	for _, p := range s.Allow {
		if !p.IsValid() {
			return fmt.Errorf("%w: allowed peer %v is not a valid address prefix", ErrInvalidSpec, p)
		}
	}
	return nil
}

func (s Spec) verdict() Verdict {
	if s.Verdict == "" {
		return VerdictReject
	}
	return s.Verdict
}

// Chain names. iptables limits them to 28 characters; the longest here is
// CACHECTL-P65535 (15).
const (
	// ChainPrefix marks every chain cachectl owns; nothing else is touched.
	ChainPrefix = "CACHECTL-"
	// InputChain is the only chain INPUT jumps to.
	InputChain = ChainPrefix + "INPUT"
	// JumpComment tags the jump from INPUT. It never changes, so `-C` finds it.
	JumpComment = "cachectl"
	// Table is the only table cachectl writes.
	Table = "filter"
)

// PortChain is the chain holding the allowlist for one port.
func PortChain(port uint16) string { return ChainPrefix + "P" + strconv.Itoa(int(port)) }

// JumpRule is the rule spec (without "-A INPUT") of the jump into InputChain.
func JumpRule() []string {
	return []string{"-m", "comment", "--comment", JumpComment, "-j", InputChain}
}
