package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/firewall/firewalltest"
	"github.com/cachectl/cachectl/netinfo"
)

// fakeHost is the CLI wired to modelled iptables and a literal conntrack
// table instead of the kernel: the firewall commands and the audit run
// without root, and the tests assert on the tables they leave.
type fakeHost struct {
	fw      *firewalltest.Fake
	flows   *firewalltest.Flows
	netnses []string // the --netns every kernel edge was opened with
}

func newFakeHost() *fakeHost {
	return &fakeHost{fw: firewalltest.New(), flows: &firewalltest.Flows{Rules: 1}}
}

func (h *fakeHost) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errOut)
	a.getenv = func(string) string { return "" }
	a.applier = func(netns string) (firewall.Applier, error) {
		h.netnses = append(h.netnses, netns)
		return h.fw, nil
	}
	a.flows = func(netns string) (audit.Source, error) {
		h.netnses = append(h.netnses, netns)
		return h.flows, nil
	}
	code := a.run(args)
	return code, out.String(), errOut.String()
}

func TestApplyStatusRemoveOnFake(t *testing.T) {
	h := newFakeHost()
	pol := writePolicy(t, firewallPolicy)
	hostRule := "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"
	for _, f := range netinfo.Families {
		h.fw.SetRules(f, "INPUT", hostRule)
	}
	before := h.fw.Snapshot()

	code, _, errOut := h.run(t, "firewall", "status", "--policy", pol, "--netns", "cache")
	if code != exitViolation {
		t.Fatalf("status before apply: exit %d (%s), want %d: managed and not installed", code, errOut, exitViolation)
	}
	code, out, errOut := h.run(t, "apply", "--policy", pol, "--netns", "cache")
	if code != exitOK || !strings.Contains(out, "ipv4: 9 rules loaded, jump from INPUT inserted") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range netinfo.Families {
		if got := h.fw.Rules(f, "INPUT"); len(got) != 2 || got[0] != firewalltest.JumpLine() || got[1] != hostRule {
			t.Errorf("%s INPUT after apply = %q, want the jump first and the host rule kept", f, got)
		}
	}
	h.fw.Hits["cachectl: default reject tcp"] = 4
	code, out, _ = h.run(t, "firewall", "status", "--json", "--policy", pol, "--netns", "cache")
	var st statusReport
	if err := json.Unmarshal([]byte(out), &st); code != exitOK || err != nil || !st.OK {
		t.Fatalf("status after apply: exit %d, %v\n%s", code, err, out)
	}
	var rejected uint64
	for _, r := range st.Families[0].Rules {
		if r.Refuses() {
			rejected += r.Packets
		}
	}
	if rejected != 4 {
		t.Errorf("ipv4 refused packets = %d, want the reject counter's 4", rejected)
	}

	h.fw.Flush(netinfo.IPv4) // another tool flushed the table
	if code, out, _ = h.run(t, "firewall", "status", "--policy", pol, "--netns", "cache"); code != exitViolation || !strings.Contains(out, "NOT installed") {
		t.Errorf("status after a flush: exit %d\n%s", code, out)
	}
	h.fw.SetRules(netinfo.IPv4, "INPUT", hostRule)
	if code, _, errOut = h.run(t, "apply", "--policy", pol, "--netns", "cache"); code != exitOK {
		t.Fatalf("re-apply: exit %d: %s", code, errOut)
	}
	if code, out, errOut = h.run(t, "firewall", "remove", "--netns", "cache"); code != exitOK || !strings.Contains(out, "ipv6: cachectl's chains and jump removed") {
		t.Fatalf("remove: exit %d\n%s%s", code, out, errOut)
	}
	if after := h.fw.Snapshot(); after[netinfo.IPv4] != before[netinfo.IPv4] || after[netinfo.IPv6] != before[netinfo.IPv6] {
		t.Errorf("remove did not restore the tables:\n%v\n%v", before, after)
	}
	for _, ns := range h.netnses {
		if ns != "cache" {
			t.Errorf("a kernel edge was opened in namespace %q, not the --netns given", ns)
		}
	}
}

func TestApplyBadPolicyLeavesTablesOnFake(t *testing.T) {
	h := newFakeHost()
	before := h.fw.Snapshot()
	pol := writePolicy(t, "version: 1\nbind: {port: 0}\n")
	if code, _, _ := h.run(t, "apply", "--policy", pol); code != exitUsage {
		t.Errorf("apply of a policy without a port: exit %d, want %d", code, exitUsage)
	}
	if after := h.fw.Snapshot(); after[netinfo.IPv4] != before[netinfo.IPv4] {
		t.Error("a refused apply changed the tables")
	}
}

func TestAuditOnFake(t *testing.T) {
	pol := writePolicy(t, "version: 1\nbind:\n  addresses: [127.0.0.1]\n  port: 11211\npeers:\n  allowed:\n    - cidr: 10.213.0.10/32\n")
	flow := func(peer string) audit.Flow {
		src, dst := netip.MustParseAddrPort(peer), netip.MustParseAddrPort("127.0.0.1:11211")
		return audit.Flow{Proto: audit.TCP, Orig: audit.Tuple{Src: src, Dst: dst}, Reply: audit.Tuple{Src: dst, Dst: src},
			TCPState: audit.TCPEstablished, SeenReply: true, Assured: true}
	}
	tests := []struct {
		name  string
		flows []audit.Flow
		rules int
		code  int
		want  string
	}{
		{"permitted", []audit.Flow{flow("10.213.0.10:40000")}, 1, exitOK, `"violations": 0`},
		{"violation", []audit.Flow{flow("10.213.0.10:40000"), flow("10.213.0.66:40001")}, 1, exitViolation, `"violations": 1`},
		{"not tracking", nil, 0, exitFailure, "not_tracking"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost()
			h.flows.List, h.flows.Rules = tt.flows, tt.rules
			if code, _, errOut := h.run(t, "apply", "--policy", pol); code != exitOK {
				t.Fatalf("apply: exit %d: %s", code, errOut)
			}
			h.fw.Hits["cachectl: default reject tcp"] = 2
			code, out, errOut := h.run(t, "audit", "--json", "--daemon", "", "--policy", pol)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("audit: exit %d, want %d; output lacks %q:\n%s%s", code, tt.code, tt.want, out, errOut)
			}
			var rep audit.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Summary.BlockedPackets != 4 {
				t.Errorf("blocked packets = %d (%v), want 2 per family", rep.Summary.BlockedPackets, err)
			}
		})
	}
}
