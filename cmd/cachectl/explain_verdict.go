package main

import (
	"fmt"
	"strings"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/policy"
)

// judge draws the verdict from the layers, in the order a connection
// meets them: what the address is, whether a listening address can be
// reached, reverse-path filtering, the firewall, then the daemon. The
// first layer that stops the peer is the answer. Pure.
func judge(e explanation) verdict {
	for _, layer := range []func(explanation) (verdict, bool){addressVerdict, reachVerdict, firewallVerdict, daemonVerdict} {
		if v, stop := layer(e); stop {
			return v
		}
	}
	return connectVerdict(e)
}

func addressVerdict(e explanation) (verdict, bool) {
	a := e.Address
	switch a.Kind {
	case kindLocal:
		return verdict{Code: localAddress, Text: "is a local address: use it with --addr to listen, not with allow",
			Why:     fmt.Sprintf("%s is this host's own address (on %s): -l/--addr choose where the daemon listens; who may connect is the allowlist", e.Peer, a.Interface),
			Command: "cachectl bind --addr " + e.Peer.String() + policyArg(e)}, true
	case kindNetwork, kindBroadcast:
		return verdict{Code: notAHost, Text: fmt.Sprintf("is the %s address of %s, not a host", a.Kind, a.Subnet),
			Why:     "no single peer sends from it; to let the whole subnet in, allow the network",
			Command: "cachectl allow " + a.Subnet + policyArg(e)}, true
	case kindMulticast, kindUnspecified:
		return verdict{Code: notAHost, Text: "is a " + a.Kind + " address, not a host",
			Why: "no peer connects from it: give the address the client really has"}, true
	}
	return verdict{}, false
}

func reachVerdict(e explanation) (verdict, bool) {
	r := e.Reach
	switch {
	case !r.Path.Route.Reachable() && !isLoopbackKind(e.Address.Kind):
		return verdict{Code: noRoute, Text: "cannot be answered: " + r.Path.Route.String(),
			Why:     "this host has no usable route back to the peer, so no reply reaches it",
			Command: "ip route add " + e.Peer.String() + " via GATEWAY"}, true
	case !r.Reachable:
		return verdict{Code: cannotReach, Text: "cannot reach a listening address (" + r.Reason + ")",
			Why:     "the peer can only connect to an address the daemon listens on, and none is reachable from it",
			Command: bindCommand(e)}, true
	case r.RPFilter != nil && r.RPFilter.Drops:
		return verdict{Code: rpFilterDrop, Text: fmt.Sprintf("is dropped by reverse-path filtering on %s", r.RPFilter.Arrive),
			Why:     r.RPFilter.Reason + ": the kernel drops the peer's packets before the firewall sees them",
			Command: fmt.Sprintf("sysctl -w net.ipv4.conf.%s.rp_filter=2", r.RPFilter.Arrive)}, true
	}
	return verdict{}, false
}

func isLoopbackKind(k string) bool { return k == kindLoopback || k == kindLocal }

// bindCommand moves the daemon onto the address that answers the peer.
func bindCommand(e explanation) string {
	if src := e.Reach.Path.Route.Src; src.IsValid() && e.Reach.Path.Route.Reachable() {
		return "cachectl bind --addr " + src.String() + policyArg(e)
	}
	return "cachectl bind --iface IFACE" + policyArg(e)
}

func firewallVerdict(e explanation) (verdict, bool) {
	d := e.Firewall.TCP
	if d == nil {
		return verdict{}, false
	}
	where := ruleName(*d)
	switch {
	case d.Outcome == firewall.Uncertain:
		return verdict{Code: uncertain, Text: "uncertain: the firewall's " + where + " cannot be evaluated",
			Why:     d.Reason + "; cachectl does not guess what it does",
			Command: fmt.Sprintf("%s -L %s -v -n --line-numbers", firewall.Binary(e.Address.Family), d.Chain)}, true
	case !d.Refused():
		return verdict{}, false
	case !strings.HasPrefix(d.Chain, firewall.ChainPrefix):
		return hostRuleVerdict(e, *d, where), true
	case e.Allow.Allowed:
		return verdict{Code: notApplied, Text: "is allowed in the policy but not applied: refused by the firewall (" + where + ")",
			Why:     fmt.Sprintf("the policy admits it (%s), the rules loaded in the kernel do not", e.Allow.Entry),
			Command: "cachectl apply" + policyArg(e)}, true
	}
	return verdict{Code: refusedByFirewall, Text: "is refused by the firewall (" + where + ")",
		Why:     "no allowlist entry admits it, so cachectl's default rule refuses it",
		Command: "cachectl allow " + e.Peer.String() + policyArg(e)}, true
}

// hostRuleVerdict: a rule of the host's own firewall refuses the peer
// before cachectl's rules decide, so no policy change helps; accepting
// the peer just above that rule does.
func hostRuleVerdict(e explanation, d firewall.Decision, where string) verdict {
	return verdict{Code: refusedByFirewall, Text: "is refused by the firewall (" + where + ", not one of cachectl's rules)",
		Why: "a rule of this host's own firewall turns it away before cachectl's rules decide",
		Command: fmt.Sprintf("%s -I %s %d -s %s -p tcp --dport %d -j ACCEPT", firewall.Binary(e.Address.Family), d.Chain,
			max(d.Rule, 1), e.Peer, e.Port)}
}

func ruleName(d firewall.Decision) string {
	if d.Rule == 0 {
		return d.Chain + " policy"
	}
	return fmt.Sprintf("rule %d of %s", d.Rule, d.Chain)
}

func daemonVerdict(e explanation) (verdict, bool) {
	d := e.Daemon
	switch {
	case d.Asked && !d.Running:
		return verdict{Code: notListening, Text: fmt.Sprintf("cannot connect: nothing listens on port %d (the daemon is not running)", e.Port),
			Why: d.Note, Command: bindCommand(e)}, true
	case d.Running && d.PerPeer && !d.Admits && e.Allow.Allowed:
		return verdict{Code: closedByDaemon, Text: "is closed by the daemon: its allowlist is stale",
			Why:     fmt.Sprintf("the policy admits it (%s), but the running daemon has not loaded that allowlist; it re-reads its policy file on SIGHUP", e.Allow.Entry),
			Command: fmt.Sprintf("kill -HUP %d", d.PID)}, true
	case d.Running && d.PerPeer && !d.Admits:
		return verdict{Code: closedByDaemon, Text: "is closed by the daemon",
			Why:     "no allowlist entry admits it: the daemon closes its connections right after accept",
			Command: "cachectl allow " + e.Peer.String() + policyArg(e)}, true
	case !d.PerPeer && !e.Allow.Allowed && e.Firewall.TCP == nil:
		// Neither the daemon nor the firewall could be asked: the policy
		// is all there is to go by, and it does not admit the peer.
		return verdict{Code: closedByDaemon, Text: "is closed by the daemon, if it enforces the policy",
			Why:     "no allowlist entry admits it; the daemon could not be asked (" + d.Note + ")",
			Command: "cachectl allow " + e.Peer.String() + policyArg(e)}, true
	}
	return verdict{}, false
}

func connectVerdict(e explanation) verdict {
	v := verdict{Code: canConnect, Text: "can connect"}
	switch {
	case e.Allow.Allowed && e.Allow.Entry != policy.LoopbackEntry:
		v.Why = "admitted by the allowlist entry " + e.Allow.Entry
		v.Command = "cachectl revoke " + e.Allow.Entry + policyArg(e)
	case e.Allow.Allowed:
		v.Why = "loopback peers are allowed by the policy (peers.allow_loopback)"
	case e.Daemon.Running && e.Daemon.PerPeer && !e.Daemon.Allowlist:
		v.Why = "the policy does not admit it, but the running daemon enforces no allowlist and the firewall lets it in"
		v.Command = "cachectl bind" + policyArg(e)
	default:
		v.Why = "the policy does not admit it, yet neither the firewall nor the daemon stops it"
		v.Command = "cachectl apply" + policyArg(e)
	}
	return v
}

// policyArg repeats --policy in a suggested command unless it is the
// default, so the command acts on the file that was explained.
func policyArg(e explanation) string {
	if e.Policy == "" || e.Policy == defaultPolicyPath {
		return ""
	}
	return " --policy " + e.Policy
}
