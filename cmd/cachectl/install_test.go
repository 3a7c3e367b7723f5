package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// TestMakeInstall stages `make install` in a DESTDIR and checks the tree:
// binary, unit, man pages, completions and a default policy that a second
// install leaves alone. Then systemd's own analyzer verifies the installed
// unit, finding its man pages and its ExecStart binary in the staged tree.
func TestMakeInstall(t *testing.T) {
	nstest.RequireCommands(t, "make", "install", "systemd-analyze", "man")
	dest := t.TempDir()
	makeInstall(t, dest)

	for _, f := range []string{
		"usr/bin/cachectl",
		"usr/lib/systemd/system/cachectl.service",
		"usr/share/man/man1/cachectl.1",
		"usr/share/man/man1/cachectl-bind.1",
		"usr/share/man/man1/cachectl-serve.1",
		"usr/share/bash-completion/completions/cachectl",
		"usr/share/zsh/site-functions/_cachectl",
		"usr/share/fish/vendor_completions.d/cachectl.fish",
		"etc/cachectl/policy.yaml",
	} {
		if fi, err := os.Stat(filepath.Join(dest, f)); err != nil || fi.Size() == 0 {
			t.Errorf("installed tree lacks %s (or it is empty): %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "usr/bin/cachectl")); err == nil && fi.Mode().Perm() != 0o755 {
		t.Errorf("binary mode %v, want 0755", fi.Mode().Perm())
	}
	// Every command, hidden ones aside, has its page.
	pages, _ := filepath.Glob(filepath.Join(dest, "usr/share/man/man1/*.1"))
	for _, want := range []string{"cachectl-allow.1", "cachectl-audit.1", "cachectl-firewall-status.1", "cachectl-completion.1"} {
		if !slices.Contains(pages, filepath.Join(dest, "usr/share/man/man1", want)) {
			t.Errorf("no man page %s among %d", want, len(pages))
		}
	}
	for f, want := range map[string]string{
		"usr/share/bash-completion/completions/cachectl":    "__start_cachectl",
		"usr/share/zsh/site-functions/_cachectl":            "#compdef cachectl",
		"usr/share/fish/vendor_completions.d/cachectl.fish": "complete -c cachectl",
		"usr/lib/systemd/system/cachectl.service":           "ExecStart=/usr/bin/cachectl bind",
		"etc/cachectl/policy.yaml":                          "allow_loopback: true",
	} {
		if b, _ := os.ReadFile(filepath.Join(dest, f)); !strings.Contains(string(b), want) {
			t.Errorf("%s does not contain %q", f, want)
		}
	}

	policy := filepath.Join(dest, "etc/cachectl/policy.yaml")
	edited := []byte("# the operator's own policy\nversion: 1\n")
	if err := os.WriteFile(policy, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	makeInstall(t, dest)
	if b, _ := os.ReadFile(policy); string(b) != string(edited) {
		t.Errorf("a second install overwrote the policy:\n%s", b)
	}

	unit := filepath.Join(dest, "usr/lib/systemd/system/cachectl.service")
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(t.TempDir(), "cachectl.service")
	text := strings.ReplaceAll(string(b), "ExecStart=/usr/bin/cachectl", "ExecStart="+filepath.Join(dest, "usr/bin/cachectl"))
	if err := os.WriteFile(staged, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-analyze", "verify", staged)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dest, "usr/share/man"))
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestUnitPromises reads the unit in the repository for what the daemon
// relies on: notify readiness, SIGHUP reload, and the hardening whose
// absence a reviewer would flag.
func TestUnitPromises(t *testing.T) {
	b, err := os.ReadFile("dist/cachectl.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[k] = v
		}
	}
	for k, want := range map[string]string{
		"Type":                     "notify",
		"ExecReload":               "/bin/kill -HUP $MAINPID",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"CapabilityBoundingSet":    "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
		"RestrictAddressFamilies":  "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"RestartPreventExitStatus": "2",
	} {
		if set[k] != want {
			t.Errorf("unit %s=%q, want %q", k, set[k], want)
		}
	}
}

func makeInstall(t *testing.T, dest string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-C", "../..", "install", "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
}

// TestAlertRules checks the sample alerting rules with Prometheus's own
// tool, and that the README shows them as they are.
func TestAlertRules(t *testing.T) {
	nstest.RequireCommands(t, "promtool")
	if out, err := exec.Command("promtool", "check", "rules", "dist/cachectl-alerts.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	rules, err := os.ReadFile("dist/cachectl-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(rules)) {
		t.Error("README.md does not quote cmd/cachectl/dist/cachectl-alerts.yml as it is")
	}
	if !strings.Contains(string(readme), fleetQuery) {
		t.Error("README.md does not quote the fleet test's PromQL query as it is")
	}
}
