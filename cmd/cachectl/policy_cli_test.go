package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cachectl/cachectl/policy"
)

// cli runs cachectl in-process and returns its exit code and output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func policyPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "etc", "policy.yaml")
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

func TestAllowCLI(t *testing.T) {
	f := policyPath(t)
	code, out, errOut := cli(t, "allow", "10.0.0.1", "fd00::/64", "--comment", "app servers", "--policy", f)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	mustContain(t, "stdout", out, "allowed 10.0.0.1/32", "allowed fd00::/64", "2 allowed entries plus loopback")

	code, out, _ = cli(t, "allow", "10.0.0.1/32", "--policy", f)
	if code != exitOK {
		t.Errorf("duplicate allow: exit %d", code)
	}
	mustContain(t, "stdout", out, "10.0.0.1/32 is already allowed")

	code, _, errOut = cli(t, "allow", "10.0.0.0/24", "10.0.0.7", "--policy", f)
	if code != exitOK {
		t.Errorf("covered allow: exit %d", code)
	}
	mustContain(t, "stderr", errOut, "10.0.0.7/32 is already covered by 10.0.0.0/24", "10.0.0.0/24 now also covers the existing entry 10.0.0.1/32")

	code, out, errOut = cli(t, "allow", "::/0", "--json", "--policy", f)
	if code != exitOK {
		t.Errorf("::/0: exit %d", code)
	}
	mustContain(t, "stderr", errOut, "WARNING: ::/0 lets EVERY IPv6 peer connect")
	var rep allowReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) != 1 || !rep.Results[0].Everyone {
		t.Errorf("--json output %q: %+v, %v", out, rep, err)
	}

	p, err := policy.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Peers.Allowed); got != 5 {
		t.Errorf("%d entries, want 5", got)
	}
	if p.Peers.Allowed[0].Comment != "app servers" {
		t.Errorf("comment lost: %+v", p.Peers.Allowed[0])
	}
}

func TestAllowGarbageWritesNothing(t *testing.T) {
	f := policyPath(t)
	if code, _, errOut := cli(t, "allow", "10.0.0.1", "--policy", f); code != exitOK {
		t.Fatal(errOut)
	}
	before, _ := os.ReadFile(f)
	for _, args := range [][]string{
		{"10.0.0.2", "10.0.0.5/24"},
		{"db1.example.com"},
		{"10.0.0.256", "10.0.0.3"},
		{"10.0.0.0/33"},
		{"fe80::1%eth0"},
	} {
		code, _, errOut := cli(t, append([]string{"allow", "--policy", f}, args...)...)
		if code != exitUsage {
			t.Errorf("allow %v: exit %d, want %d", args, code, exitUsage)
		}
		mustContain(t, "stderr", errOut, "nothing was changed")
	}
	code, _, errOut := cli(t, "allow", "--policy", f)
	if code != exitUsage {
		t.Errorf("allow without arguments: exit %d", code)
	}
	mustContain(t, "stderr", errOut, "needs at least one IP address or CIDR")
	_, _, errOut = cli(t, "allow", "10.0.0.5/24", "--policy", f)
	mustContain(t, "stderr", errOut, "did you mean 10.0.0.0/24")
	if after, _ := os.ReadFile(f); !bytes.Equal(before, after) {
		t.Errorf("policy changed by rejected arguments:\n%s", after)
	}
}

func TestAllowRefusesBrokenPolicy(t *testing.T) {
	f := filepath.Join(t.TempDir(), "policy.yaml")
	broken := "version: 1\npeers:\n  alowed: []\n"
	if err := os.WriteFile(f, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, "allow", "10.0.0.1", "--policy", f)
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	mustContain(t, "stderr", errOut, f+`:3: unknown field "alowed" in peers`, "was not changed")
	if got, _ := os.ReadFile(f); string(got) != broken {
		t.Errorf("broken policy overwritten:\n%s", got)
	}
}

func TestRevokeCLI(t *testing.T) {
	f := policyPath(t)
	cli(t, "allow", "10.0.0.0/24", "10.0.0.1", "10.1.0.1", "--policy", f)
	code, out, errOut := cli(t, "revoke", "10.0.0.1", "10.9.9.9", "127.0.0.1", "--policy", f)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	mustContain(t, "stdout", out, "revoked 10.0.0.1/32", "10.9.9.9/32 was not in the allowlist; nothing to revoke")
	mustContain(t, "stderr", errOut, "10.0.0.1/32 is still allowed by 10.0.0.0/24", "127.0.0.1/32 is still allowed by loopback")

	code, out, _ = cli(t, "revoke", "10.1.0.1", "--json", "--policy", f)
	var rep revokeReport
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Results) != 1 || !rep.Results[0].Revoked {
		t.Errorf("revoke --json: exit %d, %q", code, out)
	}
	if code, _, _ := cli(t, "revoke", "nonsense", "--policy", f); code != exitUsage {
		t.Errorf("revoke garbage: exit %d, want %d", code, exitUsage)
	}
	p, err := policy.Load(f)
	if err != nil || len(p.Peers.Allowed) != 1 || p.Peers.Allowed[0].Prefix.String() != "10.0.0.0/24" {
		t.Errorf("left %+v, %v; want only 10.0.0.0/24", p, err)
	}
	// Revoking from a policy that does not exist changes nothing and creates nothing.
	missing := policyPath(t)
	if code, _, _ := cli(t, "revoke", "10.0.0.1", "--policy", missing); code != exitOK {
		t.Errorf("revoke on a missing policy: exit %d", code)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("revoke created a policy file")
	}
}

func TestPolicyShowCLI(t *testing.T) {
	golden := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "policy", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	f := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(f, []byte(golden("sample.policy.yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "policy", "show", "--policy", f)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "Policy " + f + "\n" + golden("sample.show.txt"); out != want {
		t.Errorf("policy show:\n%s\nwant:\n%s", out, want)
	}

	code, out, _ = cli(t, "policy", "show", "--json", "--policy", f)
	var rep struct {
		Path   string          `json:"path"`
		Exists bool            `json:"exists"`
		Policy json.RawMessage `json:"policy"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || rep.Path != f || !rep.Exists {
		t.Fatalf("policy show --json: exit %d, %s", code, out)
	}
	var got, want bytes.Buffer
	json.Indent(&got, rep.Policy, "", "  ")
	json.Indent(&want, []byte(golden("sample.show.json")), "", "  ")
	if strings.TrimSpace(got.String()) != strings.TrimSpace(want.String()) {
		t.Errorf("policy show --json policy:\n%s\nwant:\n%s", got.String(), want.String())
	}

	missing := policyPath(t)
	code, out, _ = cli(t, "policy", "show", "--policy", missing)
	if want := "Policy " + missing + " does not exist; this is the default policy ('cachectl policy init' writes it)\n" + golden("default.show.txt"); code != exitOK || out != want {
		t.Errorf("policy show of a missing file: exit %d\n%s\nwant:\n%s", code, out, want)
	}
	code, out, _ = cli(t, "policy", "show", "--json", "--policy", missing)
	mustContain(t, "stdout", out, `"exists": false`, `"allow_loopback": true`)
	if code != exitOK {
		t.Errorf("exit %d", code)
	}
}

func TestPolicyCheckAndInitCLI(t *testing.T) {
	f := policyPath(t)
	if code, _, errOut := cli(t, "policy", "check", "--policy", f); code != exitUsage || !strings.Contains(errOut, "policy init") {
		t.Errorf("check of a missing file: exit %d, %s", code, errOut)
	}
	code, out, errOut := cli(t, "policy", "init", "--policy", f)
	if code != exitOK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	mustContain(t, "stdout", out, "wrote "+f, "only loopback")
	if _, err := policy.Load(f); err != nil {
		t.Errorf("init wrote a policy that does not load: %v", err)
	}
	code, _, errOut = cli(t, "policy", "init", "--policy", f)
	if code != exitUsage {
		t.Errorf("second init: exit %d, want %d", code, exitUsage)
	}
	mustContain(t, "stderr", errOut, "already exists; not overwriting")

	code, out, _ = cli(t, "policy", "check", "--policy", f)
	if code != exitOK {
		t.Errorf("check of the default: exit %d", code)
	}
	mustContain(t, "stdout", out, "is valid: 0 allowed entries plus loopback")

	bad := "version: 1\nbind:\n  port: 11211\npeers:\n  allowed:\n    - cidr: 10.0.0.5/24\nfirewall:\n  verdict: accept\n"
	if err := os.WriteFile(f, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = cli(t, "policy", "check", "--policy", f)
	if code != exitUsage {
		t.Errorf("check of an invalid file: exit %d, want %d", code, exitUsage)
	}
	mustContain(t, "stderr", errOut, f+":6: peers.allowed[0].cidr", "did you mean 10.0.0.0/24", f+":8: firewall.verdict")
	if err := os.WriteFile(f, []byte("version: 1\nfirewall:\n  verdit: drop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, errOut = cli(t, "policy", "check", "--policy", f)
	mustContain(t, "stderr", errOut, f+`:3: unknown field "verdit" in firewall`)
}

// TestAllowConcurrentProcesses runs real cachectl processes at once: the
// flock in policy.Edit must serialize them so no entry is lost.
func TestAllowConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cachectl")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cachectl: %v\n%s", err, out)
	}
	f := filepath.Join(dir, "policy.yaml")
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := range 20 {
		wg.Go(func() {
			cmd := exec.Command(bin, "allow", fmt.Sprintf("10.9.0.%d", i+1), "--policy", f)
			cmd.Env = append(os.Environ(), "CACHECTL_POLICY=")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Sprintf("allow 10.9.0.%d: %v\n%s", i+1, err, out)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	p, err := policy.Load(f)
	if err != nil {
		t.Fatalf("policy after concurrent allows does not parse: %v", err)
	}
	if n := len(p.Peers.Allowed); n != 20 {
		t.Errorf("%d entries after 20 concurrent allows, want 20", n)
	}
	for i := range 20 {
		a := netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)})
		if e, ok := p.Permits(a); !ok || e != a.String()+"/32" {
			t.Errorf("%s is not allowed by its own entry (got %q, %v)", a, e, ok)
		}
	}
}
