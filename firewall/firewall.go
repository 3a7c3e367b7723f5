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

	"github.com/cachectl/cachectl/policy"
)

// Spec is everything the firewall needs from the policy.
type Spec struct {
	Port     uint16         // TCP port of the cache; required
	UDPPort  uint16         // UDP port; 0 means UDP is off (nothing rendered for it)
	Allow    []netip.Prefix // peers allowed to connect, both families mixed
	Loopback bool           // whether local processes may connect (see loopbackRule)
	Verdict  policy.Verdict // default for everyone else; "" means reject
}

// ErrInvalidSpec is wrapped by every Spec validation error.
var ErrInvalidSpec = errors.New("invalid firewall spec")

// Validate says what is wrong with a Spec, in terms an operator can fix.
func (s Spec) Validate() error {
	if s.Port == 0 {
		return fmt.Errorf("%w: the TCP port is 0; set bind.port in the policy", ErrInvalidSpec)
	}
	switch s.Verdict {
	case "", policy.VerdictReject, policy.VerdictDrop:
	default:
		return fmt.Errorf("%w: verdict %q is neither %q nor %q", ErrInvalidSpec, s.Verdict, policy.VerdictReject, policy.VerdictDrop)
	}
	for _, p := range s.Allow {
		if !p.IsValid() {
			return fmt.Errorf("%w: allowed peer %v is not a valid address prefix", ErrInvalidSpec, p)
		}
	}
	return nil
}

func (s Spec) verdict() policy.Verdict {
	if s.Verdict == "" {
		return policy.VerdictReject
	}
	return s.Verdict
}

// lockWait is how long, in seconds, every iptables call waits for the
// xtables lock; go-iptables' default is forever. It is part of the rendered
// command line, so it lives beside the render rather than the kernel edge.
const lockWait = 5

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

// jumpRule is the jump from INPUT into InputChain: the one rule cachectl
// puts in a chain it does not own.
func jumpRule() Rule {
	return Rule{Chain: "INPUT", Comment: JumpComment, Target: InputChain}
}
