package firewall

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cachectl/cachectl/netinfo"
)

// Exec is the real Applier: iptables-restore/-save and ipset through
// os/exec.
//
// With a namespace name every command runs as `ip netns exec NAME ...`.
// That is explicit rather than relying on the calling thread's netns: a
// child process enters the caller's namespace only if the fork happens on
// a thread locked into it.
type Exec struct {
	prefix []string
}

var netnsName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// NewExec prepares the real applier for the current namespace (netns "")
// or for the named one. Families whose binaries are missing are reported
// by Available, not here.
func NewExec(netns string) (*Exec, error) {
	e := &Exec{}
	if netns != "" {
		if !netnsName.MatchString(netns) {
			return nil, fmt.Errorf("network namespace name %q has characters other than letters, digits, _ . -", netns)
		}
		e.prefix = []string{"ip", "netns", "exec", netns}
	}
	return e, nil
}

func saveBinary(f netinfo.Family) string { return Binary(f) + "-save" }

// Available needs iptables, -restore and -save of the family.
func (e *Exec) Available(f netinfo.Family) error {
	for _, bin := range []string{Binary(f), restoreBinary(f), saveBinary(f)} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found: %w", bin, err)
		}
	}
	return nil
}

func (e *Exec) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, e.prefix...), name), args...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// Restore always passes --noflush: without it iptables-restore replaces
// every chain of the table, including the host's own rules.
func (e *Exec) Restore(ctx context.Context, f netinfo.Family, payload []byte, mode RestoreMode) error {
	args := []string{"-w", fmt.Sprint(lockWait), "--noflush"}
	if mode == Check {
		args = append(args, "--test")
	}
	cmd := e.command(ctx, restoreBinary(f), args...)
	cmd.Stdin = bytes.NewReader(payload)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return NewRestoreError(f, mode, payload, string(out), err)
	}
	return nil
}

// Save returns iptables-save's (or ip6tables-save's) dump of one table,
// with counters.
func (e *Exec) Save(ctx context.Context, f netinfo.Family, table string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := e.command(ctx, saveBinary(f), "-c", "-t", table)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s -t %s: %w: %s", saveBinary(f), table, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// SetsAvailable says why ipset cannot be used, or nil when it can.
func (e *Exec) SetsAvailable() error {
	if _, err := exec.LookPath("ipset"); err != nil {
		return fmt.Errorf("ipset not found (apt-get install ipset): %w", err)
	}
	return nil
}

// RestoreSets loads an `ipset restore` payload; a failure names the
// payload line ipset refused.
func (e *Exec) RestoreSets(ctx context.Context, payload []byte) error {
	cmd := e.command(ctx, "ipset", "restore")
	cmd.Stdin = bytes.NewReader(payload)
	if out, err := cmd.CombinedOutput(); err != nil {
		// ipset says "Error in line N: ..."
		line := 0
		if m := ipsetLine.FindStringSubmatch(string(out)); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		return NewSetsRestoreError(payload, line, string(out), err)
	}
	return nil
}

var ipsetLine = regexp.MustCompile(`Error in line (\d+)`)

// SaveSets returns `ipset save`, or nothing when ipset is not installed
// (then no set of cachectl's can exist).
func (e *Exec) SaveSets(ctx context.Context) ([]byte, error) {
	if e.SetsAvailable() != nil {
		return nil, nil
	}
	var stderr bytes.Buffer
	cmd := e.command(ctx, "ipset", "save")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ipset save: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Environment probes the backend, the other backend's tables, host
// firewalls whose reload can drop cachectl's chains, and nat rules.
func (e *Exec) Environment(ctx context.Context, f netinfo.Family) (Environment, error) {
	var env Environment
	out, err := e.command(ctx, Binary(f), "--version").Output()
	if err != nil {
		return env, fmt.Errorf("%s --version: %w", Binary(f), err)
	}
	env.Backend = "legacy"
	other := Binary(f) + "-nft-save"
	if strings.Contains(string(out), "nf_tables") {
		env.Backend = "nf_tables"
		other = Binary(f) + "-legacy-save"
	}
	// Saving a legacy table that does not exist makes the kernel create it
	// empty, and from then on every iptables command on the host warns that
	// legacy tables are present. So look before reading.
	if _, err := exec.LookPath(other); err == nil && (env.Backend == "legacy" || e.hasLegacyTable(ctx, f, Table)) {
		// Reading the other backend is best effort: it may have no tables.
		if o, err := e.command(ctx, other, "-t", Table).Output(); err == nil {
			env.OtherBackendRules = bytes.Contains(o, []byte(ChainPrefix))
		}
	}
	for _, fw := range []string{"ufw", "firewalld"} {
		if _, err := exec.LookPath(fw); err == nil {
			env.Firewalls = append(env.Firewalls, fw)
		}
	}
	if filter, err := e.Save(ctx, f, Table); err == nil && bytes.Contains(filter, []byte(":ufw-")) && !containsString(env.Firewalls, "ufw") {
		env.Firewalls = append(env.Firewalls, "ufw")
	}
	if nat, err := e.Save(ctx, f, "nat"); err == nil {
		env.NAT = natRedirects(nat)
	}
	return env, nil
}

// natRedirects keeps the nat rules that send traffic elsewhere (DNAT,
// REDIRECT); Status picks those that concern the cache port.
func natRedirects(save []byte) []string {
	var out []string
	for _, l := range strings.Split(string(save), "\n") {
		if l = stripCounters(l); strings.HasPrefix(l, "-A ") && (strings.Contains(l, "-j DNAT") || strings.Contains(l, "-j REDIRECT")) {
			out = append(out, l)
		}
	}
	return out
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// hasLegacyTable reports whether the kernel's x_tables hold the family's
// table in this namespace: /proc/net/ip_tables_names (ip6_tables_names)
// lists the tables that exist, and reading it creates nothing. It is read
// by a child process so that `ip netns exec` puts it in the namespace.
func (e *Exec) hasLegacyTable(ctx context.Context, f netinfo.Family, table string) bool {
	names := "/proc/net/ip_tables_names"
	if f == netinfo.IPv6 {
		names = "/proc/net/ip6_tables_names"
	}
	out, err := e.command(ctx, "cat", names).Output()
	if err != nil { // no x_tables module loaded: no legacy table at all
		return false
	}
	return slices.Contains(strings.Fields(string(out)), table)
}
