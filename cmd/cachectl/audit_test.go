package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/cachedtest"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

func runAuditCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := []string{}
	code = run(append(a, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeAuditPolicy(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuditBadInput(t *testing.T) {
	good := writeAuditPolicy(t, "version: 1\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"positional argument", []string{"audit", "--policy", good, "extra"}, "takes no arguments"},
		{"port out of range", []string{"audit", "--policy", good, "--port", "70000"}, "--port 70000 is not a port"},
		{"missing policy", []string{"audit", "--policy", filepath.Join(t.TempDir(), "nope.yaml")}, "reading policy"},
		{"broken policy", []string{"audit", "--policy", writeAuditPolicy(t, "version: 1\nbind: {port: nine}\n")}, "reading policy"},
		{"bad daemon address", []string{"audit", "--policy", good, "--daemon", "localhost"}, "want ADDR:PORT"},
		{"bad timeout", []string{"audit", "--policy", good, "--timeout", "0s"}, "--timeout must be positive"},
		{"bad filter", []string{"audit", "--policy", good, "--filter", "port"}, `--filter "port": want one of auto, tuple, mark, none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runAuditCmd(t, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

func TestDaemonAddr(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	tests := []struct {
		opt   string
		bound []netip.Addr
		want  string
	}{
		{"", nil, "invalid AddrPort"},
		{"auto", nil, "127.0.0.1:11211"},
		{"auto", []netip.Addr{a("10.0.0.1"), a("::1")}, "[::1]:11211"},
		{"auto", []netip.Addr{a("10.0.0.1")}, "10.0.0.1:11211"},
		{"[fd00::1]:2000", nil, "[fd00::1]:2000"},
	}
	for _, tt := range tests {
		got, err := daemonAddr(tt.opt, tt.bound, 11211)
		if err != nil || got.String() != tt.want {
			t.Errorf("daemonAddr(%q, %v) = %s, %v; want %s", tt.opt, tt.bound, got, err, tt.want)
		}
	}
}

// startAuditDaemon runs the real daemon (package cached) in ns on port, bound
// to addrs and loopback, until the test ends.
func startAuditDaemon(t *testing.T, ns *nstest.NS, port int, addrs ...netip.Addr) {
	t.Helper()
	cfg := cached.DefaultConfig()
	cfg.Port = port
	cfg.Listen = []string{"127.0.0.1"}
	for _, a := range addrs {
		cfg.Listen = append(cfg.Listen, a.String())
	}
	cachedtest.StartIn(t, ns, cfg)
}

// TestAuditCommandReal runs "cachectl audit --json" inside a server
// namespace where client 1 is permitted and client 2 is not, cross-checking
// with the real daemon.
func TestAuditCommandReal(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "iptables-save", "ip6tables-save")
	s := nstest.NewStar(t, 2)
	s.Server.MustRun("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-m", "conntrack", "--ctstate", "ESTABLISHED", "-j", "ACCEPT")
	const port = 11311
	startAuditDaemon(t, s.Server, port, s.Addr4, s.Addr6)
	for _, c := range s.Clients {
		conn, err := c.Dial(netip.AddrPortFrom(s.Addr4, port), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(conn, "version\r\n"); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.HasPrefix(line, "VERSION") {
			t.Fatalf("version: %q, %v", line, err)
		}
	}
	pol := writeAuditPolicy(t, fmt.Sprintf("version: 1\nbind:\n  addresses: [%s, %s]\n  port: %d\npeers:\n  allowed:\n    - cidr: %s/32\n",
		s.Addr4, s.Addr6, port, s.Client4[0]))

	var code int
	var stdout, stderr string
	if err := s.Server.Do(func() error {
		code, stdout, stderr = runAuditCmd(t, "audit", "--policy", pol, "--json", "--daemon", fmt.Sprintf("127.0.0.1:%d", port))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if code != exitViolation {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitViolation, stdout, stderr)
	}
	var rep struct {
		Peers []struct {
			Addr    string `json:"addr"`
			Verdict string `json:"verdict"`
			Entry   string `json:"entry"`
		} `json:"peers"`
		Findings []struct {
			Kind string `json:"kind"`
		} `json:"findings"`
		Summary struct {
			Violations int `json:"violations"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout)
	}
	got := fmt.Sprint(rep.Peers)
	want := fmt.Sprintf("[{%s violation } {%s permitted %s/32}]", s.Client4[1], s.Client4[0], s.Client4[0])
	// No cachectl firewall here: the audit says blocked attempts are not
	// counted, for each family, and nothing else.
	if got != want || rep.Summary.Violations != 1 || fmt.Sprint(rep.Findings) != "[{firewall_missing} {firewall_missing}]" {
		t.Errorf("peers %s, findings %v, violations %d; want %s, two firewall_missing, 1 violation\n%s", got, rep.Findings, rep.Summary.Violations, want, stdout)
	}

	// With --daemon auto and a policy that does not permit the server's own
	// address, the audit does not query the daemon: the query would be a
	// violating flow itself.
	strict := writeAuditPolicy(t, fmt.Sprintf("version: 1\nbind:\n  addresses: [%s]\n  port: %d\npeers:\n  allow_loopback: false\n  allowed:\n    - cidr: %s/32\n",
		s.Addr4, port, s.Client4[0]))
	if err := s.Server.Do(func() error {
		code, stdout, stderr = runAuditCmd(t, "audit", "--policy", strict)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if code != exitViolation || !strings.Contains(stdout, "daemon_unreachable: no cross-check with the daemon: skipped") {
		t.Errorf("exit %d, want %d and a skipped cross-check:\n%s%s", code, exitViolation, stdout, stderr)
	}
}

// TestAuditCommandBlocked: with cachectl's firewall applied, the refused
// peer leaves no flow, only the reject counter; the audit is clean and
// counts the blocked attempt.
func TestAuditCommandBlocked(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "ip6tables", "iptables-save", "ip6tables-save", "iptables-restore", "ip6tables-restore")
	s := nstest.NewStar(t, 2)
	const port = 11312
	startAuditDaemon(t, s.Server, port, s.Addr4, s.Addr6)
	pol := writeAuditPolicy(t, fmt.Sprintf("version: 1\nbind:\n  addresses: [%s, %s]\n  port: %d\npeers:\n  allowed:\n    - cidr: %s/32\n",
		s.Addr4, s.Addr6, port, s.Client4[0]))
	if code, out, errOut := runAuditCmd(t, "apply", "--policy", pol, "--netns", s.Server.Name); code != exitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if c, err := s.Clients[1].Dial(netip.AddrPortFrom(s.Addr4, port), 2*time.Second); err == nil {
		c.Close()
		t.Fatal("client 2 connected through the firewall")
	}
	c, err := s.Clients[0].Dial(netip.AddrPortFrom(s.Addr4, port), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "version\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	var code int
	var stdout, stderr string
	if err := s.Server.Do(func() error {
		code, stdout, stderr = runAuditCmd(t, "audit", "--policy", pol, "--json", "--daemon", fmt.Sprintf("127.0.0.1:%d", port))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Blocked []struct {
			Family  string `json:"family"`
			Packets uint64 `json:"packets"`
		} `json:"blocked"`
		Findings []struct {
			Kind string `json:"kind"`
		} `json:"findings"`
		Dump struct {
			Filter string `json:"filter"`
		} `json:"dump"`
		Summary struct {
			Peers      int `json:"peers"`
			Violations int `json:"violations"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("exit %d, stdout is not the JSON report: %v\n%s%s", code, err, stdout, stderr)
	}
	if rep.Dump.Filter != "tuple" {
		t.Errorf("dump filter %q, want tuple (the kernel filters by port since Linux 5.8)", rep.Dump.Filter)
	}
	if code != exitOK || rep.Summary.Peers != 1 || rep.Summary.Violations != 0 || len(rep.Findings) != 0 {
		t.Errorf("exit %d, want 0 with one permitted peer and no findings:\n%s%s", code, stdout, stderr)
	}
	if len(rep.Blocked) != 2 || rep.Blocked[0].Family != "ipv4" || rep.Blocked[0].Packets == 0 {
		t.Errorf("blocked = %+v, want ipv4 and ipv6 with the refused SYN counted under ipv4", rep.Blocked)
	}

	// The applied firewall marks the cache's flows, so the audit can ask
	// the kernel for the mark instead, and finds the same.
	if err := s.Server.Do(func() error {
		code, stdout, stderr = runAuditCmd(t, "audit", "--policy", pol, "--json", "--daemon", "", "--filter", "mark")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("exit %d, stdout is not the JSON report: %v\n%s%s", code, err, stdout, stderr)
	}
	if code != exitOK || rep.Dump.Filter != "mark" || rep.Summary.Peers != 1 {
		t.Errorf("--filter mark: exit %d, want 0, the mark filter and one peer:\n%s%s", code, stdout, stderr)
	}
}
