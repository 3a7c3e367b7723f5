package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/firewall/firewalltest"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

// fakeProbe is a host with literal addresses, routes and daemon.
type fakeProbe struct {
	snap      netinfo.Snapshot
	path      netinfo.Path // for every peer, with Peer filled in
	daemon    daemonAnswer
	daemonErr error
}

func (p *fakeProbe) Snapshot() (netinfo.Snapshot, error) { return p.snap, nil }
func (p *fakeProbe) PathTo(peer netip.Addr) (netinfo.Path, error) {
	path := p.path
	path.Peer = peer
	return path, nil
}
func (p *fakeProbe) AskDaemon(context.Context, netip.AddrPort, netip.Addr) (daemonAnswer, error) {
	return p.daemon, p.daemonErr
}
func (p *fakeProbe) Close() error { return nil }

// cacheHost is the doubles' server: lo, and eth0 on 10.213.0.1/24 and
// fd00:213::1/64; the peer is routed on-link through eth0, rp_filter
// strict; the daemon listens on 10.213.0.1 and admits what the policy does.
func cacheHost() *fakeProbe {
	addr := func(s string) netinfo.Address {
		p := netip.MustParsePrefix(s)
		return netinfo.Address{Prefix: p, Addr: p.Addr()}
	}
	return &fakeProbe{
		snap: netinfo.Snapshot{Interfaces: []netinfo.Interface{
			{Name: "lo", Index: 1, AdminUp: true, OperState: "unknown", Loopback: true, Addrs: []netinfo.Address{addr("127.0.0.1/8"), addr("::1/128")}},
			{Name: "eth0", Index: 2, AdminUp: true, OperState: "up", Addrs: []netinfo.Address{addr("10.213.0.1/24"), addr("fd00:213::1/64")}},
			{Name: "eth1", Index: 3, AdminUp: true, OperState: "up", Addrs: []netinfo.Address{addr("10.214.0.1/24")}},
		}},
		path: netinfo.Path{Route: netinfo.Route{Iface: "eth0", Src: netip.MustParseAddr("10.213.0.1"), Type: "unicast"},
			RPFilter: &netinfo.RPFilter{All: 1, Iface: map[string]int{"lo": 0, "eth0": 1, "eth1": 1}}},
		daemon: daemonAnswer{PID: 4242, Listen: []netip.AddrPort{netip.MustParseAddrPort("10.213.0.1:11211")}, PerPeer: true,
			Peer: peerStats{Allowlist: true, Admitted: true, Entry: "10.213.0.10/32"}},
	}
}

const explainPolicy = `version: 1
bind:
  addresses: [10.213.0.1]
  port: 11211
peers:
  allow_loopback: true
  allowed:
    - cidr: 10.213.0.10/32
      comment: app1
      added: "2026-11-22T05:20:37Z"
firewall:
  managed: true
  verdict: reject
`

// explainHost is the CLI on the iptables double, a literal conntrack
// table and a fakeProbe.
type explainHost struct {
	*fakeHost
	probe *fakeProbe
}

func newExplainHost(t *testing.T, policyPath string) *explainHost {
	h := &explainHost{fakeHost: newFakeHost(), probe: cacheHost()}
	if code, _, errOut := h.run(t, "apply", "--policy", policyPath); code != exitOK {
		t.Fatalf("apply: exit %d: %s", code, errOut)
	}
	h.flows.List = []audit.Flow{{Proto: audit.TCP, TCPState: audit.TCPEstablished, SeenReply: true, Assured: true,
		Orig:  audit.Tuple{Src: netip.MustParseAddrPort("10.213.0.10:40000"), Dst: netip.MustParseAddrPort("10.213.0.1:11211")},
		Reply: audit.Tuple{Src: netip.MustParseAddrPort("10.213.0.1:11211"), Dst: netip.MustParseAddrPort("10.213.0.10:40000")}}}
	return h
}

func (h *explainHost) explain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errOut)
	a.getenv = func(string) string { return "" }
	a.applier = func(string) (firewall.Applier, error) { return h.fw, nil }
	a.flows = func(string) (audit.Source, error) { return h.flows, nil }
	a.probe = func(string) (hostProbe, error) { return h.probe, nil }
	code := a.run(append([]string{"explain"}, args...))
	return code, out.String(), errOut.String()
}

func TestExplainVerdictsOnDoubles(t *testing.T) {
	tests := []struct {
		name    string
		peer    string
		setup   func(t *testing.T, h *explainHost, policyPath string)
		code    string
		text    string // substring of the verdict's sentence
		command string // substring of the command
	}{
		{"allowed and connected", "10.213.0.10", nil, canConnect, "can connect", "cachectl revoke 10.213.0.10/32"},
		{"not allowed: refused by cachectl's rule", "10.213.0.99", func(_ *testing.T, h *explainHost, _ string) {
			h.probe.daemon.Peer = peerStats{Allowlist: true}
		}, refusedByFirewall, "refused by the firewall (rule 5 of CACHECTL-P11211)", "cachectl allow 10.213.0.99 --policy"},
		{"allowed in the policy, not applied", "10.213.0.20", func(t *testing.T, _ *explainHost, pol string) {
			// Edited by hand after the last apply.
			edited := strings.Replace(explainPolicy, "firewall:", "    - cidr: 10.213.0.20/32\nfirewall:", 1)
			if err := os.WriteFile(pol, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
		}, notApplied, "allowed in the policy but not applied: refused by the firewall (rule 5 of CACHECTL-P11211)", "cachectl apply --policy"},
		{"daemon allowlist stale", "10.213.0.10", func(_ *testing.T, h *explainHost, _ string) {
			h.probe.daemon.Peer = peerStats{Allowlist: true, Denied: 3, LastDenied: time.Unix(1_795_000_000, 0)}
		}, closedByDaemon, "closed by the daemon: its allowlist is stale", "kill -HUP 4242"},
		{"daemon on loopback only", "10.213.0.10", func(_ *testing.T, h *explainHost, _ string) {
			h.probe.daemon.Listen = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:11211")}
		}, cannotReach, "cannot reach a listening address (the daemon listens on 127.0.0.1 only)", "cachectl bind --addr 10.213.0.1"},
		{"local address meant for --addr", "10.213.0.1", nil, localAddress, "is a local address: use it with --addr to listen, not with allow", "cachectl bind --addr 10.213.0.1"},
		{"rp_filter and an asymmetric route", "10.213.0.10", func(_ *testing.T, h *explainHost, _ string) {
			h.probe.path.Route = netinfo.Route{Iface: "eth1", Src: netip.MustParseAddr("10.214.0.1"), Gateway: netip.MustParseAddr("10.214.0.254"), Type: "unicast"}
		}, rpFilterDrop, "dropped by reverse-path filtering on eth0", "sysctl -w net.ipv4.conf.eth0.rp_filter=2"},
		{"nothing listens", "10.213.0.10", func(_ *testing.T, h *explainHost, _ string) {
			h.probe.daemonErr = fmt.Errorf("connecting: %w", errNotListening)
		}, notListening, "nothing listens on port 11211", "cachectl bind --addr 10.213.0.1"},
		{"no route back", "10.99.0.1", func(_ *testing.T, h *explainHost, _ string) {
			h.probe.path.Route = netinfo.Route{Err: "network is unreachable"}
		}, noRoute, "no route: network is unreachable", "ip route add 10.99.0.1"},
		{"a rule the evaluator cannot read", "10.213.0.10", func(_ *testing.T, h *explainHost, _ string) {
			h.fw.SetRules(netinfo.IPv4, "INPUT", "-A INPUT -p tcp -m tcp --dport 11211 -m limit --limit 5/min -j ACCEPT", firewalltest.JumpLine())
		}, uncertain, "uncertain: the firewall's rule 1 of INPUT cannot be evaluated", "iptables -L INPUT -v -n --line-numbers"},
		{"a host rule refuses first", "10.213.0.10", func(_ *testing.T, h *explainHost, _ string) {
			h.fw.SetRules(netinfo.IPv4, "INPUT", "-A INPUT -s 10.213.0.0/24 -p tcp -j DROP", firewalltest.JumpLine())
		}, refusedByFirewall, "rule 1 of INPUT, not one of cachectl's rules", "iptables -I INPUT 1 -s 10.213.0.10 -p tcp --dport 11211 -j ACCEPT"},
		{"the network address", "10.213.0.0", nil, notAHost, "network address of 10.213.0.0/24", "cachectl allow 10.213.0.0/24"},
		{"IPv6 peer, daemon on IPv4 only", "fd00:213::10", nil, cannotReach, "listens on no ipv6 address", "cachectl bind --addr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := writePolicy(t, explainPolicy)
			h := newExplainHost(t, pol)
			if tc.setup != nil {
				tc.setup(t, h, pol)
			}
			code, out, errOut := h.explain(t, tc.peer, "--policy", pol, "--json")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var e explanation
			if err := jsonUnmarshal(out, &e); err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			if e.Verdict.Code != tc.code || !strings.Contains(e.Verdict.Text, tc.text) || !strings.Contains(e.Verdict.Command, tc.command) {
				t.Errorf("verdict %+v;\nwant code %s, text ~%q, command ~%q", e.Verdict, tc.code, tc.text, tc.command)
			}
		})
	}
}

// TestExplainGolden pins the text and JSON of a full explanation.
func TestExplainGolden(t *testing.T) {
	pol := writePolicy(t, explainPolicy)
	h := newExplainHost(t, pol)
	h.fw.Hits["cachectl: allow 10.213.0.10/32"] = 12
	h.fw.Hits["cachectl: default reject tcp"] = 3
	for _, tc := range []struct{ golden, peer, format string }{
		{"explain-connect.txt", "10.213.0.10", ""},
		{"explain-connect.json", "10.213.0.10", "--json"},
		{"explain-refused.txt", "10.213.0.99", ""},
	} {
		if tc.peer != "10.213.0.10" { // the daemon's answer about a stranger
			h.probe.daemon.Peer = peerStats{Allowlist: true, Denied: 2, LastDenied: time.Unix(1_795_000_000, 0)}
		}
		args := []string{tc.peer, "--policy", pol}
		if tc.format != "" {
			args = append(args, tc.format)
		}
		code, out, errOut := h.explain(t, args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", tc.golden, code, errOut)
		}
		nstest.Golden(t, tc.golden, []byte(strings.ReplaceAll(out, pol, "POLICY")))
	}
}

func TestExplainBadInput(t *testing.T) {
	pol := writePolicy(t, explainPolicy)
	h := newExplainHost(t, pol)
	for _, args := range [][]string{
		{"10.0.0.256", "--policy", pol},
		{"10.0.0.0/24", "--policy", pol},
		{"app1.example", "--policy", pol},
		{"--policy", pol},
		{"10.0.0.1", "10.0.0.2", "--policy", pol},
		{"10.0.0.1", "--port", "70000", "--policy", pol},
	} {
		if code, _, errOut := h.explain(t, args...); code != exitUsage || errOut == "" {
			t.Errorf("explain %q: exit %d (%s), want %d with a message", args, code, errOut, exitUsage)
		}
	}
	// A one-host CIDR and brackets name a peer.
	for _, peer := range []string{"10.213.0.10/32", "[fd00:213::10]"} {
		if code, _, errOut := h.explain(t, peer, "--policy", pol); code != exitOK {
			t.Errorf("explain %s: exit %d: %s", peer, code, errOut)
		}
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
