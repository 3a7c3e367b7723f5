package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/policy"
)

type explainOptions struct {
	policy  string
	netns   string
	port    int
	json    bool
	timeout time.Duration
}

func newExplainCmd(a *app) *cobra.Command {
	var o explainOptions
	cmd := &cobra.Command{
		Use:   "explain ADDR",
		Short: "Say why a peer can or cannot connect to the cache, layer by layer, with the one command that changes it",
		Long: `explain walks every layer between a peer and the cache, as this host sees
it now, and ends with one verdict and the one command that would change it:

  address    is ADDR a peer at all, or this host's own (listen) address?
  reach      where the daemon listens, the route this host answers the peer
             on, and whether reverse-path filtering (rp_filter) drops it
  policy     the allowlist entry that admits the peer, or none
  firewall   the verdict of the rules loaded in the kernel for the cache
             port, TCP and UDP, ipsets included, with the deciding rule and
             its counters; whether cachectl's rules are installed and in sync
  daemon     whether the running daemon's own allowlist admits the peer and
             how many of its connections it closed
  conntrack  the peer's current flows to the cache port

Verdicts: can connect; refused by the firewall (rule N); allowed in the
policy but not applied; closed by the daemon; cannot reach a listening
address; dropped by reverse-path filtering; no route; nothing listens;
is a local address; not a host; uncertain (a rule it cannot read).

Exit code 0 whenever the explanation was produced, whatever the verdict;
2 for a malformed address or bad flags; 1 when the host cannot be read.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("%s takes exactly one peer address, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runExplain(cmd.Context(), a, o, args[0]) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	addNetnsFlag(a, cmd, &o.netns)
	cmd.Flags().IntVar(&o.port, "port", 0, "cache TCP port (default: the policy's)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 3*time.Second, "time limit for asking the daemon")
	return cmd
}

// parsePeer reads the peer as an operator writes it: an address, in
// brackets or not, or a one-host CIDR. A wider CIDR is refused: a
// network does not connect, one of its hosts does.
func parsePeer(raw string) (netip.Addr, error) {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(raw), "["), "]")
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, usageErrorf("%q is not an IP address: give a peer such as 10.0.0.21 or fd00::21", raw)
		}
		if p.Bits() != p.Addr().BitLen() {
			return netip.Addr{}, usageErrorf("%q is a network: explain takes one peer address from it, such as %s", raw, p.Masked().Addr().Next())
		}
		s = p.Addr().String()
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, usageErrorf("%q is not an IP address: give a peer such as 10.0.0.21 or fd00::21 (names are not resolved)", raw)
	}
	return a.Unmap(), nil
}

func runExplain(ctx context.Context, a *app, o explainOptions, raw string) error {
	peer, err := parsePeer(raw)
	if err != nil {
		return err
	}
	if o.port < 0 || o.port > 65535 || o.timeout <= 0 {
		return usageErrorf("--port must be 0-65535 and --timeout positive, got %d and %s", o.port, o.timeout)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	p, err := loadPolicyForFirewall(a, o.policy, true)
	if err != nil {
		return err
	}
	probe, err := a.probe(o.netns)
	if err != nil {
		return usageError(err)
	}
	defer probe.Close()
	e, err := a.explain(ctx, probe, o, p, peer)
	if err != nil {
		return fmt.Errorf("explain %s: %w", peer, err)
	}
	return printer{w: a.stdout, json: o.json}.print(e, e.writeText)
}

// explain gathers every layer, then judges.
func (a *app) explain(ctx context.Context, probe hostProbe, o explainOptions, p *policy.Policy, peer netip.Addr) (explanation, error) {
	e := explanation{Peer: peer, Port: p.Bind.Port, UDPPort: p.Bind.UDPPort, Policy: o.policy}
	if o.port != 0 {
		e.Port = uint16(o.port)
	}
	snap, err := probe.Snapshot()
	if err != nil {
		return e, fmt.Errorf("reading this host's addresses: %w", err)
	}
	e.Address = classify(peer, snap)
	judgeFn := p.Judge(snap.LocalAddrs())
	e.Allow = allowFactsFor(p, judgeFn, peer)
	e.Daemon = askDaemonFacts(ctx, probe, o.timeout, boundAddrs(p, snap), judgeFn, e.Port, peer)
	path, err := probe.PathTo(peer)
	if err != nil {
		return e, fmt.Errorf("looking up the route to the peer: %w", err)
	}
	listen, from := boundAddrs(p, snap), "policy"
	if e.Daemon.Running {
		listen, from = e.Daemon.Listen, "daemon"
	}
	e.Reach = reachOf(peer, e.Address.Kind, snap, listen, path)
	e.Reach.ListenFrom = from
	e.Firewall = a.firewallFacts(ctx, o.netns, p, e)
	e.Conntrack = a.conntrackFacts(ctx, o.netns, peer, e.Port, e.UDPPort)
	e.Verdict = judge(e)
	return e, nil
}

// allowFactsFor is the policy's judgement, with the entry's comment and
// the time it was added.
func allowFactsFor(p *policy.Policy, judge func(netip.Addr) (string, bool), peer netip.Addr) allowFacts {
	f := allowFacts{Managed: p.Firewall.Managed}
	f.Entry, f.Allowed = judge(peer)
	for _, e := range p.Peers.Allowed {
		if f.Allowed && e.Prefix.Masked().String() == f.Entry {
			f.Comment, f.Added = e.Comment, e.Added
		}
	}
	return f
}
