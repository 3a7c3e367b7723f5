package firewall

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cachectl/cachectl/netinfo"
)

// Applier is the kernel edge: the few operations Apply, Status and Remove
// need, per family. Everything else (the jump from INPUT, counters, what is
// installed) is a restore payload or is read from Save, so a double only has
// to model restore and save. Exec is the real one; firewalltest.Tables
// models the tables for tests.
type Applier interface {
	// Available says why a family cannot be managed here (nil: it can).
	Available(f netinfo.Family) error
	// Restore loads payload with `iptables-restore --noflush` (never a
	// flushing restore), or with Check only tests it (--test). A payload
	// that fails changes nothing.
	Restore(ctx context.Context, f netinfo.Family, payload []byte, mode RestoreMode) error
	// Save returns `iptables-save -c -t TABLE` for the family: rules with
	// "[packets:bytes]" counters in front.
	Save(ctx context.Context, f netinfo.Family, table string) ([]byte, error)
	// SetsAvailable says why ipsets cannot be used (nil: they can); only
	// allowlists above SetThreshold need them.
	SetsAvailable() error
	// RestoreSets loads an `ipset restore` payload.
	RestoreSets(ctx context.Context, payload []byte) error
	// SaveSets returns `ipset save`; empty when ipset is not installed
	// (then cachectl cannot have made any set).
	SaveSets(ctx context.Context) ([]byte, error)
	// Environment reports what else on the host can interfere.
	Environment(ctx context.Context, f netinfo.Family) (Environment, error)
}

// RestoreMode says whether a restore loads its payload or only checks it.
type RestoreMode int

const (
	// Load applies the payload atomically.
	Load RestoreMode = iota
	// Check runs iptables-restore --test: parsed and verified, nothing changed.
	Check
)

// Environment is what Status warns about besides cachectl's own chains.
type Environment struct {
	Backend string `json:"backend"` // "nf_tables" or "legacy"
	// OtherBackendRules: the other backend (legacy vs nft) holds CACHECTL
	// rules, which the kernel also evaluates but this tool cannot see.
	OtherBackendRules bool     `json:"other_backend_rules"`
	Firewalls         []string `json:"firewalls,omitempty"` // ufw, firewalld found
	// NAT lists nat-table rules that redirect traffic to the cache port;
	// that traffic goes through FORWARD, never INPUT.
	NAT []string `json:"nat,omitempty"`
}

// RestoreError is a failed iptables-restore, naming the offending payload
// line with its neighbours.
type RestoreError struct {
	Family  netinfo.Family
	Mode    RestoreMode // Check: the failure was in the --test check, nothing changed
	Line    int         // 1-based line of payload that failed; 0 if unknown
	Context string      // that line with its neighbours, numbered
	Output  string      // what iptables-restore printed
	Err     error
	binary  string // when not the family's iptables-restore
}

func (e *RestoreError) Error() string {
	what := "loading"
	if e.Mode == Check {
		what = "checking"
	}
	bin, subject := e.binary, "sets"
	if bin == "" {
		bin, subject = restoreBinary(e.Family), e.Family.String()+" rules"
	}
	msg := fmt.Sprintf("%s %s with %s: %v: %s", what, subject, bin, e.Err, trimUsageHint(e.Output))
	if e.Line > 0 {
		msg += fmt.Sprintf("\nfailed at line %d of the payload:\n%s", e.Line, e.Context)
	}
	return msg
}

func (e *RestoreError) Unwrap() error { return e.Err }

// iptables-restore names the failing line as "line N failed" (a rule the
// kernel refused at COMMIT) or "Error occurred at line: N" (a parse error).
var lineFailed = regexp.MustCompile(`line (\d+) failed|Error occurred at line: (\d+)`)

// NewRestoreError locates "line N failed" in output within payload.
func NewRestoreError(f netinfo.Family, mode RestoreMode, payload []byte, output string, err error) *RestoreError {
	re := &RestoreError{Family: f, Mode: mode, Output: output, Err: err}
	if m := lineFailed.FindStringSubmatch(output); m != nil {
		re.Line, _ = strconv.Atoi(m[1] + m[2])
		re.Context = lineContext(payload, re.Line, 1)
	}
	return re
}

// NewSetsRestoreError is a failed `ipset restore`, at line (0: unknown).
func NewSetsRestoreError(payload []byte, line int, output string, err error) *RestoreError {
	re := &RestoreError{Output: output, Err: err, binary: "ipset restore", Line: line}
	if line > 0 {
		re.Context = lineContext(payload, line, 1)
	}
	return re
}

// lineContext numbers line n of payload and up to k lines either side,
// marking n with ">".
func lineContext(payload []byte, n, k int) string {
	lines := strings.Split(strings.TrimSuffix(string(payload), "\n"), "\n")
	var b bytes.Buffer
	for i := max(n-k, 1); i <= min(n+k, len(lines)); i++ {
		mark := " "
		if i == n {
			mark = ">"
		}
		fmt.Fprintf(&b, "%s %4d  %s\n", mark, i, lines[i-1])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// trimUsageHint drops iptables' "Try `... -h' ..." line, noise here.
func trimUsageHint(out string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "Try `") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
