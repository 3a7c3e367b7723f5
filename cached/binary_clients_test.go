package cached

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// Real binary-protocol clients against the daemon: libmemcached's
// conformance suite and PHP's memcached extension.

func requireTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		nstest.Unavailable(t, "%s is not installed (apt-get install %s)", name, pkg)
	}
}

func runToolOut(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// TestMemccapable runs libmemcached's conformance suite: the 27 binary
// tests alone, then all 54 (text and binary) on one server.
func TestMemccapable(t *testing.T) {
	requireTool(t, "memccapable", "libmemcached-tools")
	_, addr := startInProcess(t, nil)
	host, port, _ := strings.Cut(addr, ":")
	for _, tc := range []struct {
		name  string
		args  []string
		tests int
	}{
		{"binary", []string{"-b"}, 27},
		{"all", nil, 54},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runToolOut(t, "memccapable", append([]string{"-h", host, "-p", port}, tc.args...)...)
			if err != nil || !strings.Contains(out, "All tests passed") {
				t.Fatalf("memccapable %v: %v\n%s", tc.args, err, out)
			}
			if n := strings.Count(out, "[pass]"); n != tc.tests {
				t.Errorf("%d tests passed, want %d:\n%s", n, tc.tests, out)
			}
		})
	}
}

// TestPHPMemcachedBinary stores and reads a PHP session (the session
// handler speaks binary by default) and values through a binary
// Memcached client, against a binary-only daemon, and requires the same
// output as from memcached 1.6.18.
func TestPHPMemcachedBinary(t *testing.T) {
	requireTool(t, "php", "php-cli php-memcached")
	if out, err := runToolOut(t, "php", "-r", "exit(extension_loaded('memcached') ? 0 : 1);"); err != nil {
		nstest.Unavailable(t, "PHP's memcached extension is not loaded (apt-get install php-memcached): %v %s", err, out)
	}
	_, ours := startInProcess(t, func(c *Config) { c.Protocol = ProtocolBinary })
	ref := memcachedAddr(t)
	const want = `written
{"user":"alice","visits":3}
from php! cas=set
15
{"php:counter":"15","php:value":"from php!"}
read
`
	for name, addr := range map[string]string{"ours": ours, "memcached": ref} {
		_, port, _ := strings.Cut(addr, ":")
		if _, err := strconv.Atoi(port); err != nil {
			t.Fatal(err)
		}
		var got string
		for _, phase := range []string{"write", "read"} {
			out, err := runToolOut(t, "php", "testdata/php/binary_client.php", port, phase)
			if err != nil {
				t.Fatalf("%s: php %s: %v\n%s", name, phase, err, out)
			}
			got += out
		}
		if got != want {
			t.Errorf("%s: PHP printed\n%s\nwant\n%s", name, got, want)
		}
	}
}
