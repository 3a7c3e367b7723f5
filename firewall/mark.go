package firewall

import "fmt"

// The conntrack mark cachectl's port chain sets on the cache's flows, so
// that the audit can ask the kernel for those flows alone (a dump filtered
// by mark) instead of decoding the host's whole connection table.
//
// One bit, written through a mask: every other bit of the flow's mark stays
// as other tools (wg-quick's CONNMARK --save-mark, policy routing) set it.
// Bit 28 is outside the ranges most users of marks claim (kube-proxy's
// 0x4000/0x8000, Tailscale's 0xff0000, Cilium's 0x0f00); Calico's default
// 0xffff0000 covers it, but those are packet marks, and none of these tools
// writes them into a conntrack mark. A host whose own rules rewrite the whole conntrack
// mark of the cache's flows would hide them from a mark-filtered dump, which
// is why the audit prefers the kernel's tuple filter and uses the mark only
// where that filter is missing.
const (
	ConnMark     uint32 = 0x10000000
	ConnMarkMask uint32 = 0x10000000
	// MarkComment tags the mark rule; Marks finds it by this comment.
	MarkComment = "cachectl: mark the cache's flows for the audit"
)

// markRule sets the mark on every packet that reaches the port chain, not
// only on a flow's first: a flow that predates the rule is marked by its
// next packet. The kernel writes a flow's mark only when it changes, so the
// per-packet cost is one compare.
func markRule(chain string) Rule {
	return Rule{Chain: chain, Target: "CONNMARK", SetXMark: fmt.Sprintf("0x%x/0x%x", ConnMark, ConnMarkMask),
		Comment: MarkComment}
}

// Marks reports whether the family's installed firewall marks the flows to
// port: cachectl's chains are in place and the port chain holds the mark
// rule.
func (fs FamilyStatus) Marks(port uint16) bool {
	if !fs.Installed {
		return false
	}
	for _, r := range fs.Rules {
		if r.Chain == PortChain(port) && r.Comment == MarkComment {
			return true
		}
	}
	return false
}
