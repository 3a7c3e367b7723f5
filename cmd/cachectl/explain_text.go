package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/cachectl/cachectl/firewall"
)

// writeText prints the explanation for people: one block per layer, then
// the verdict and the command that would change it.
func (e explanation) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cachectl explain %s (port %d/tcp", e.Peer, e.Port)
	if e.UDPPort != 0 {
		fmt.Fprintf(&b, ", %d/udp", e.UDPPort)
	}
	fmt.Fprintf(&b, ", policy %s)\n\n", e.Policy)
	section := func(name string, lines ...string) {
		for i, l := range lines {
			if i == 0 {
				fmt.Fprintf(&b, "%-10s %s\n", name, l)
			} else {
				fmt.Fprintf(&b, "%-10s %s\n", "", l)
			}
		}
	}
	section("address", e.addressText())
	section("reach", e.reachText()...)
	section("policy", e.policyText())
	section("firewall", e.firewallText()...)
	section("daemon", e.daemonText()...)
	section("conntrack", e.conntrackText()...)
	fmt.Fprintf(&b, "\n%-10s %s %s\n", "verdict", e.Peer, e.Verdict.Text)
	if e.Verdict.Why != "" {
		fmt.Fprintf(&b, "%-10s %s\n", "why", e.Verdict.Why)
	}
	if e.Verdict.Command != "" {
		fmt.Fprintf(&b, "%-10s %s\n", "to change", e.Verdict.Command)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (e explanation) addressText() string {
	a := e.Address
	switch a.Kind {
	case kindLocal:
		return fmt.Sprintf("%s address of this host (on %s): a place to listen, not a peer", a.Family, a.Interface)
	case kindNetwork, kindBroadcast:
		return fmt.Sprintf("the %s address of %s on %s, not a host", a.Kind, a.Subnet, a.Interface)
	case kindLoopback:
		return "a loopback address: a client on this host"
	case kindLinkLocal:
		return fmt.Sprintf("an %s link-local host: reachable on one link only", a.Family)
	case kindHost:
		return fmt.Sprintf("an %s host, not one of this host's addresses", a.Family)
	}
	return "a " + a.Kind + " address, not a host"
}

func (e explanation) reachText() []string {
	r := e.Reach
	listen := "every address"
	if len(r.Listen) > 0 {
		listen = joinAddrs(r.Listen)
	}
	from := map[string]string{"daemon": "the running daemon", "policy": "the policy's bind: the daemon was not reached"}[r.ListenFrom]
	out := []string{fmt.Sprintf("listening on %s (from %s)", listen, from),
		"route to the peer: " + r.Path.Route.String()}
	if r.Reachable {
		out = append(out, r.Reason)
	} else {
		out = append(out, "unreachable: "+r.Reason)
	}
	if r.RPFilter != nil {
		out = append(out, "reverse path: "+r.RPFilter.Reason)
	}
	return out
}

func (e explanation) policyText() string {
	a := e.Allow
	if !a.Allowed {
		return "no allowlist entry admits it"
	}
	s := "admitted by " + a.Entry
	if a.Comment != "" {
		s += fmt.Sprintf(" (%q)", a.Comment)
	}
	if !a.Added.IsZero() {
		s += ", added " + a.Added.UTC().Format(time.RFC3339)
	}
	return s
}

func (e explanation) firewallText() []string {
	f := e.Firewall
	if f.Error != "" {
		return []string{fmt.Sprintf("%s rules could not be read: %s", f.Family, f.Error)}
	}
	state := "cachectl's rules are NOT installed"
	switch {
	case f.Installed && f.InSync:
		state = "cachectl's rules are installed and in sync with the policy"
	case f.Installed:
		state = "cachectl's rules are installed but DRIFTED: " + f.Drift
	}
	out := []string{fmt.Sprintf("%s: %s", f.Family, state), "tcp " + decisionText(f.TCP)}
	if f.UDP != nil {
		out = append(out, "udp "+decisionText(f.UDP))
	} else {
		out = append(out, "udp off (the policy has no UDP port)")
	}
	for _, w := range f.Warnings {
		out = append(out, "warning: "+w)
	}
	return out
}

func decisionText(d *firewall.Decision) string {
	if d.Outcome == firewall.Uncertain {
		return fmt.Sprintf("uncertain at %s: %s: %s", ruleName(*d), d.Text, d.Reason)
	}
	s := fmt.Sprintf("%s by %s", d.Outcome, ruleName(*d))
	s += fmt.Sprintf(" [%d packets, %d bytes]", d.Counters.Packets, d.Counters.Bytes)
	if d.Rule > 0 {
		s += ": " + d.Text
	}
	return s
}

func (e explanation) daemonText() []string {
	d := e.Daemon
	switch {
	case !d.Running && d.Asked:
		return []string{"not running: " + d.Note}
	case !d.Running:
		return []string{"not asked: " + strings.TrimPrefix(d.Note, "not asked: ")}
	}
	out := []string{fmt.Sprintf("running (pid %d), asked at %s", d.PID, d.Address)}
	switch {
	case !d.PerPeer:
		return append(out, d.Note)
	case !d.Allowlist:
		out = append(out, "it enforces no allowlist: every peer is admitted")
	case d.Admits:
		out = append(out, "its allowlist admits the peer ("+d.Entry+")")
	default:
		out = append(out, "its allowlist does NOT admit the peer")
	}
	refused := fmt.Sprintf("it closed %d of the peer's connections", d.Denied)
	if !d.LastDenied.IsZero() {
		refused += ", the last at " + d.LastDenied.UTC().Format(time.RFC3339)
	}
	return append(out, refused)
}

func (e explanation) conntrackText() []string {
	c := e.Conntrack
	var out []string
	if c.Note != "" {
		out = append(out, c.Note)
	}
	if len(c.Flows) == 0 {
		return append(out, "no flow from the peer to the cache port")
	}
	for _, f := range c.Flows {
		out = append(out, fmt.Sprintf("%s %s %s -> %s", f.Proto, f.State, f.From, f.To))
	}
	return out
}

func joinAddrs(as []netip.Addr) string {
	ss := make([]string, len(as))
	for i, a := range as {
		ss[i] = a.String()
	}
	return strings.Join(ss, ", ")
}
