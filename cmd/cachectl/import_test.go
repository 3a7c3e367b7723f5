package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
	"github.com/cachectl/cachectl/policy"
)

// runImportCmd runs import-memcached-conf on a host whose addresses are
// 127.0.0.1 and 192.0.2.10.
func runImportCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errOut)
	a.getenv = func(string) string { return "" }
	a.localAddrs = func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.10")}, nil
	}
	code := a.run(append([]string{"import-memcached-conf"}, args...))
	return code, out.String(), errOut.String()
}

// TestImportMemcachedConf: each conf under testdata/import becomes the
// golden policy file, text report and JSON report beside it.
func TestImportMemcachedConf(t *testing.T) {
	for _, name := range []string{"debian", "mixed"} {
		t.Run(name, func(t *testing.T) {
			conf := filepath.Join("testdata", "import", name+".conf")
			for _, format := range []string{"txt", "json"} {
				pol := filepath.Join(t.TempDir(), "policy.yaml")
				args := []string{conf, "--policy", pol}
				if format == "json" {
					args = append(args, "--json")
				}
				code, out, errOut := runImportCmd(t, args...)
				if code != exitOK {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				out = strings.ReplaceAll(out, pol, "/etc/cachectl/policy.yaml")
				nstest.Golden(t, filepath.Join("import", name+"."+format), []byte(out))
				written, err := os.ReadFile(pol)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := policy.Parse(pol, written); err != nil {
					t.Errorf("the written policy does not load: %v", err)
				}
				nstest.Golden(t, filepath.Join("import", name+".policy.yaml"), written)
			}
		})
	}
}

// TestImportNeverOverwrites: an existing policy stays unless --force.
func TestImportNeverOverwrites(t *testing.T) {
	conf := filepath.Join("testdata", "import", "debian.conf")
	pol := writePolicy(t, "version: 1\nbind:\n  port: 22122\n")
	before, _ := os.ReadFile(pol)
	code, _, errOut := runImportCmd(t, conf, "--policy", pol)
	if code != exitUsage || !strings.Contains(errOut, "already exists; nothing was written") {
		t.Errorf("import over an existing policy: exit %d, %q; want %d", code, errOut, exitUsage)
	}
	if after, _ := os.ReadFile(pol); !bytes.Equal(after, before) {
		t.Error("the existing policy was changed")
	}
	if code, _, errOut := runImportCmd(t, conf, "--policy", pol, "--force"); code != exitOK {
		t.Fatalf("--force: exit %d: %s", code, errOut)
	}
	p, err := policy.Load(pol)
	if err != nil || p.Bind.Port != 11211 {
		t.Errorf("after --force the policy is %+v, %v; want the imported port 11211", p, err)
	}
	if code, _, _ := runImportCmd(t, "testdata/import/missing.conf", "--policy", pol); code != exitUsage {
		t.Errorf("a missing conf: exit %d, want %d", code, exitUsage)
	}
}
