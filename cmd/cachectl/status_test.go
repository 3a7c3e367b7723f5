package main

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/cached/daemon"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

const statusPolicy = `version: 1
bind:
  addresses: [127.0.0.1]
  port: 11211
peers:
  allowed:
    - cidr: 10.213.0.10/32
firewall:
  managed: true
`

func statusFlow(peer string) audit.Flow {
	src, dst := netip.MustParseAddrPort(peer), netip.MustParseAddrPort("127.0.0.1:11211")
	return audit.Flow{Proto: audit.TCP, Orig: audit.Tuple{Src: src, Dst: dst}, Reply: audit.Tuple{Src: dst, Dst: src},
		TCPState: audit.TCPEstablished, SeenReply: true, Assured: true}
}

// TestStatusOnFake runs status against modelled iptables and conntrack, with
// no daemon: the states an operator meets, their exit codes and their
// text and JSON, compared with golden files.
func TestStatusOnFake(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *fakeHost, pol string)
		code  int
	}{
		{"not_installed", func(*fakeHost, string) {}, exitViolation},
		{"in_sync", func(h *fakeHost, pol string) {
			h.run(t, "apply", "--policy", pol)
			h.fw.Hits["cachectl: default reject tcp"] = 3
			h.flows.List = []audit.Flow{statusFlow("10.213.0.10:40000")}
		}, exitOK},
		{"drifted", func(h *fakeHost, pol string) {
			h.run(t, "apply", "--policy", pol)
			h.fw.SetRules(netinfo.IPv4, "INPUT")
		}, exitViolation},
		{"violation", func(h *fakeHost, pol string) {
			h.run(t, "apply", "--policy", pol)
			h.flows.List = []audit.Flow{statusFlow("10.213.0.10:40000"), statusFlow("10.213.0.66:40001")}
		}, exitViolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			pol := writePolicy(t, statusPolicy)
			tc.setup(h, pol)
			code, out, errOut := h.run(t, "status", "--policy", pol)
			if code != tc.code {
				t.Errorf("status: exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			nstest.Golden(t, "status-"+tc.name+".txt", []byte(anonymize(out, pol)))
			code, out, _ = h.run(t, "status", "--json", "--policy", pol)
			if code != tc.code {
				t.Errorf("status --json: exit %d, want %d", code, tc.code)
			}
			var ov overview
			if err := json.Unmarshal([]byte(out), &ov); err != nil {
				t.Fatalf("status --json is not an overview: %v\n%s", err, out)
			}
			nstest.Golden(t, "status-"+tc.name+".json", []byte(anonymize(out, pol)))
		})
	}
}

// anonymize replaces the test's temporary policy path, and the control
// socket derived from it, with fixed names.
func anonymize(out, pol string) string {
	out = strings.ReplaceAll(out, daemon.ControlPath(pol), filepath.Join(daemon.RunDir, "policy-HASH.sock"))
	return strings.ReplaceAll(out, pol, "/etc/cachectl/policy.yaml")
}
