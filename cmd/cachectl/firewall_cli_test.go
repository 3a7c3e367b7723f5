package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

const firewallPolicy = `version: 1
bind:
  port: 11211
  udp_port: 11211
peers:
  allow_loopback: true
  allowed:
    - cidr: 10.213.0.10/32
    - cidr: fd00:213::10/128
    - cidr: 192.168.0.0/16
firewall:
  managed: true
  verdict: reject
`

func writePolicy(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRulesAndDryRunPrintTheSameBytes(t *testing.T) {
	f := writePolicy(t, firewallPolicy)
	code, rules, errOut := cli(t, "rules", "--policy", f)
	if code != exitOK || errOut != "" {
		t.Fatalf("rules: exit %d: %s", code, errOut)
	}
	nstest.Golden(t, "rules.txt", []byte(rules))
	code, dry, errOut := cli(t, "apply", "--dry-run", "--policy", f)
	if code != exitOK || errOut != "" {
		t.Fatalf("apply --dry-run: exit %d: %s", code, errOut)
	}
	if dry != rules {
		t.Errorf("apply --dry-run differs from rules:\n%s\n---\n%s", dry, rules)
	}
	_, v4, _ := cli(t, "rules", "--family", "4", "--policy", f)
	_, v6, _ := cli(t, "rules", "--family", "6", "--policy", f)
	if v4+v6 != rules || !strings.HasPrefix(v6, "# cachectl ipv6") {
		t.Errorf("per-family output does not add up to the whole:\n%s\n%s", v4, v6)
	}

	code, out, _ := cli(t, "apply", "--dry-run", "--json", "--policy", f)
	var rep applyReport
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Payloads) != 2 || rep.Payloads[0].Payload+rep.Payloads[1].Payload != rules {
		t.Errorf("apply --dry-run --json: exit %d: %s", code, out)
	}
}

func TestFirewallCLIBadInput(t *testing.T) {
	f := writePolicy(t, firewallPolicy)
	for _, args := range [][]string{
		{"rules", "--family", "5", "--policy", f},
		{"apply", "--policy", filepath.Join(t.TempDir(), "missing.yaml")},
		{"apply", "--netns", "bad name", "--policy", f},
		{"firewall", "status", "extra"},
	} {
		if code, _, errOut := cli(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitUsage, errOut)
		}
	}
	// Printing the default policy is harmless, and says so.
	code, out, errOut := cli(t, "rules", "--policy", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != exitOK || !strings.Contains(errOut, "does not exist") || !strings.Contains(out, "allow loopback") {
		t.Errorf("rules with a missing policy: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestFirewallCLIInNetns drives apply, status, allow (re-apply), revoke
// and remove against real iptables in a throwaway namespace.
func TestFirewallCLIInNetns(t *testing.T) {
	ns := nstest.New(t)
	nstest.RequireRoot(t, "iptables", "iptables-restore", "ip6tables-restore")
	t.Setenv("CACHECTL_NETNS", ns.Name) // for allow/revoke, which have no --netns
	before := ns.MustRun("iptables-save", "-t", "filter")
	f := writePolicy(t, firewallPolicy)

	if code, out, errOut := cli(t, "apply", "--policy", f); code != exitOK || !strings.Contains(out, "ipv6: 8 rules loaded, jump from INPUT inserted") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := cli(t, "firewall", "status", "--policy", f)
	if code != exitOK || !strings.Contains(out, "ipv4: installed, in sync") || !strings.Contains(out, "cachectl: default reject tcp") {
		t.Errorf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = cli(t, "firewall", "status", "--json", "--policy", f)
	var rep statusReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil || !rep.OK || !rep.Managed || len(rep.Families[0].Rules) == 0 {
		t.Errorf("status --json: exit %d, %v\n%s", code, err, out)
	}

	ns.MustRun("iptables", "-D", "CACHECTL-P11211", "-s", "192.168.0.0/16", "-m", "comment", "--comment", "cachectl: allow 192.168.0.0/16", "-j", "ACCEPT")
	code, out, _ = cli(t, "firewall", "status", "--policy", f)
	if code != exitViolation || !strings.Contains(out, "DRIFTED") || !strings.Contains(out, "missing rules: -A CACHECTL-P11211 -s 192.168.0.0/16") {
		t.Errorf("status after a hand edit: exit %d, want %d\n%s", code, exitViolation, out)
	}

	if code, _, errOut := cli(t, "allow", "10.9.9.9", "--policy", f); code != exitOK || !strings.Contains(errOut, "firewall re-applied") {
		t.Fatalf("allow: exit %d: %s", code, errOut)
	}
	if save := ns.MustRun("iptables-save", "-t", "filter"); !strings.Contains(save, "-s 10.9.9.9/32") || !strings.Contains(save, "-s 192.168.0.0/16") {
		t.Errorf("allow did not re-apply:\n%s", save)
	}
	if code, _, errOut := cli(t, "revoke", "10.9.9.9", "--policy", f); code != exitOK || !strings.Contains(errOut, "firewall re-applied") {
		t.Fatalf("revoke: exit %d: %s", code, errOut)
	}
	if save := ns.MustRun("iptables-save", "-t", "filter"); strings.Contains(save, "10.9.9.9") {
		t.Errorf("revoke did not re-apply:\n%s", save)
	}

	if code, out, errOut := cli(t, "firewall", "remove", "--json"); code != exitOK || !strings.Contains(out, `"ipv4"`) {
		t.Fatalf("remove: exit %d\n%s\n%s", code, out, errOut)
	}
	if after := ns.MustRun("iptables-save", "-t", "filter"); stripSaveComments(after) != stripSaveComments(before) {
		t.Errorf("remove left changes:\n%s\nwas\n%s", after, before)
	}
	if code, out, _ := cli(t, "firewall", "status", "--policy", f); code != exitViolation || !strings.Contains(out, "NOT installed") {
		t.Errorf("status after remove: exit %d\n%s", code, out)
	}
}

func stripSaveComments(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
