package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

func tempPolicy(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		asParse bool // *ParseError rather than *ValidationError
		want    []string
	}{
		{"malformed", "version: 1\npeers:\n  allowed: [\n", true, []string{"policy.yaml:3:"}},
		{"unknown field", "version: 1\nbind:\n  port: 11211\npeers:\n  allow_loopback: true\n  alowed:\n    - cidr: 10.0.0.1\n", true,
			[]string{`policy.yaml:6: unknown field "alowed" in peers`}},
		{"unknown top-level", "version: 1\npeer:\n  allowed: []\n", true, []string{`policy.yaml:2: unknown field "peer" in the top level`}},
		{"wrong type", "version: 1\nbind:\n  port: eleven\n", true, []string{`policy.yaml:3: bind.port: expected a whole number, got "eleven"`}},
		{"two documents", "version: 1\n---\nversion: 1\n", true, []string{"policy.yaml:3:", "more than one YAML document"}},
		{"bad cidr", "version: 1\npeers:\n  allowed:\n    - cidr: 10.0.0.1\n    - cidr: 10.0.0.5/24\n", false,
			[]string{"policy.yaml:5: peers.allowed[1].cidr", "did you mean 10.0.0.0/24"}},
		{"hostname", "version: 1\npeers:\n  allowed:\n    - cidr: db1.example\n", false,
			[]string{"policy.yaml:4: peers.allowed[0].cidr", "not names"}},
		{"bad verdict", "version: 1\nfirewall:\n  managed: true\n  verdict: accept\n", false,
			[]string{`policy.yaml:4: firewall.verdict: "accept" is not a verdict: use reject or drop`}},
		{"every problem", "version: 2\nbind:\n  port: 0\n  udp_port: 99999\npeers:\n  allowed:\n    - cidr: 10.0.0.0/33\n    - cidr: 10.0.0.1\n    - cidr: 10.0.0.1/32\n    - comment: no cidr\n", false,
			[]string{"6 problems", "policy.yaml:1: version", "policy.yaml:3: bind.port", "policy.yaml:4: bind.udp_port",
				"policy.yaml:7: peers.allowed[0].cidr", "policy.yaml:9: peers.allowed[2].cidr: 10.0.0.1/32 is listed twice", "policy.yaml:10: peers.allowed[3].cidr: missing"}},
		{"missing version", "peers:\n  allow_loopback: false\n", false, []string{"version: missing"}},
		{"daemon", "version: 1\ndaemon:\n  memory_limit_mb: 4\n  max_item_size: 3m\n  threads: 0\n", false,
			[]string{"policy.yaml:4: daemon.max_item_size: 3m is more than half", "policy.yaml:5: daemon.threads"}},
		{"bad size", "version: 1\ndaemon:\n  max_item_size: lots\n", false, []string{"policy.yaml:3: daemon.max_item_size", "not a size"}},
		{"bad added", "version: 1\npeers:\n  allowed:\n    - cidr: 10.0.0.1\n      added: yesterday\n", false, []string{"policy.yaml:5: peers.allowed[0].added"}},
		{"bind address", "version: 1\nbind:\n  addresses: [10.0.0.5, db1]\n", false, []string{"policy.yaml:3: bind.addresses[1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPolicy(t, tc.content)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			var pe *ParseError
			var ve *ValidationError
			if tc.asParse && !errors.As(err, &pe) {
				t.Errorf("got %T, want *ParseError: %v", err, err)
			}
			if !tc.asParse && !errors.As(err, &ve) {
				t.Errorf("got %T, want *ValidationError: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseErrorFields(t *testing.T) {
	_, err := Parse("p.yaml", []byte("version: 1\npeers:\n  allowed:\n    - cidr: 10.0.0.1\n      coment: x\n"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 5 || pe.Field != "peers.allowed[0].coment" {
		t.Fatalf("got %#v", err)
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := Load(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
	p, existed, err := LoadOrDefault(path)
	if err != nil || existed || !p.LoopbackAllowed() || len(p.Peers.Allowed) != 0 {
		t.Errorf("LoadOrDefault = %+v, %v, %v", p, existed, err)
	}
	_, existed, err = LoadOrDefault(tempPolicy(t, "version: 1\nbogus: 1\n"))
	if err == nil || !existed {
		t.Errorf("LoadOrDefault of a bad file = %v, %v; want the error", existed, err)
	}
}

func TestDefaultsFilled(t *testing.T) {
	p, err := Load(tempPolicy(t, "version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if p.Bind.Port != 11211 || p.Bind.UDPPort != 0 || !p.LoopbackAllowed() || p.Firewall.Verdict != VerdictReject ||
		p.Firewall.Managed || p.Daemon != d.Daemon {
		t.Errorf("defaults not filled: %+v", p)
	}
	p, err = Load(tempPolicy(t, "version: 1\npeers:\n  allow_loopback: false\n"))
	if err != nil || p.LoopbackAllowed() {
		t.Errorf("allow_loopback: false not honoured: %v %v", p, err)
	}
}

func samplePolicy() *Policy {
	p := Default()
	added := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	p.Bind.Interfaces = []string{"eth0"}
	p.Bind.Addresses = []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}
	p.Bind.UDPPort = 11211
	p.Allow(netip.MustParsePrefix("10.0.0.1/32"), "app server 1", added)
	p.Allow(netip.MustParsePrefix("10.0.1.0/24"), "", added)
	p.Allow(netip.MustParsePrefix("fd00:1::/64"), "v6 apps: east", time.Time{})
	p.Firewall = Firewall{Managed: true, Verdict: VerdictDrop}
	p.Daemon.MaxItemSize = 2 << 20
	p.Reindex()
	return p
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, p := range []*Policy{Default(), samplePolicy()} {
		data, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse("rt.yaml", data)
		if err != nil {
			t.Fatalf("reparsing what Marshal wrote: %v\n%s", err, data)
		}
		a, _ := json.Marshal(p)
		b, _ := json.Marshal(q)
		if !bytes.Equal(a, b) {
			t.Errorf("round trip changed the policy:\n%s\n%s", a, b)
		}
	}
}

func TestGolden(t *testing.T) {
	for name, p := range map[string]*Policy{"default": Default(), "sample": samplePolicy()} {
		var text bytes.Buffer
		if err := p.Describe(&text); err != nil {
			t.Fatal(err)
		}
		nstest.Golden(t, name+".show.txt", text.Bytes())
		js, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		nstest.Golden(t, name+".show.json", append(js, '\n'))
		yml, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		nstest.Golden(t, name+".policy.yaml", yml)
	}
}

// TestMaxItemSizeUnits: the policy reads sizes with the daemon's -I units,
// so what the command line takes the file takes too.
func TestMaxItemSizeUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
	}{
		{"1048576", 1 << 20},
		{"512k", 512 << 10},
		{"2M", 2 << 20},
		{"1g", 1 << 30},
	} {
		p, err := Parse("p.yaml", []byte("version: 1\ndaemon:\n  memory_limit_mb: 4096\n  max_item_size: "+tc.in+"\n"))
		if err != nil {
			t.Errorf("max_item_size: %s: %v", tc.in, err)
			continue
		}
		if p.Daemon.MaxItemSize != tc.want {
			t.Errorf("max_item_size: %s read as %d, want %d", tc.in, p.Daemon.MaxItemSize, tc.want)
		}
	}
}
