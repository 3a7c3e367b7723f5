package cached

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// Real clients against `cachectl serve`: the Python libraries users run,
// libmemcached's conformance suite and its load generators.

// python returns the system interpreter that has Debian's memcache
// client packages (a pyenv shim on PATH may not).
func python(t *testing.T, modules ...string) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		check := exec.Command(path, "-c", "import "+strings.Join(modules, ", "))
		if check.Run() == nil {
			return path
		}
	}
	nstest.Unavailable(t, "needs python3 with %v (Debian python3-pymemcache, python3-memcache; make deps installs them)", modules)
	return ""
}

func runTool(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func hostPort(t *testing.T, d *daemon) (string, string) {
	h, p, err := net.SplitHostPort(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func TestPymemcache(t *testing.T) {
	py := python(t, "pymemcache")
	d := startCachectl(t)
	h, p := hostPort(t, d)
	for _, mode := range []string{"noreply", "reply"} {
		out := runTool(t, 60*time.Second, py, "testdata/clients/pymemcache_client.py", h, p, mode)
		if strings.TrimSpace(out) != "ok" {
			t.Fatalf("pymemcache %s: %s", mode, out)
		}
	}
}

func TestPythonMemcached(t *testing.T) {
	py := python(t, "memcache")
	d := startCachectl(t)
	h, p := hostPort(t, d)
	if out := runTool(t, 60*time.Second, py, "testdata/clients/memcache_client.py", h, p); strings.TrimSpace(out) != "ok" {
		t.Fatalf("python-memcached: %s", out)
	}
}

func TestMemcslap(t *testing.T) {
	nstest.RequireCommands(t, "memcslap")
	d := startCachectl(t)
	for _, mode := range []string{"set", "get"} {
		out := runTool(t, 120*time.Second, "memcslap", "-s", d.addr, "-t", mode, "-c", "4", "-e", "2000")
		if !strings.Contains(out, "Time to "+mode) {
			t.Fatalf("memcslap -t %s:\n%s", mode, out)
		}
	}
}

// TestMemcaslapVerify runs memcaslap with value verification on every get
// and expiring objects, bounded in time and in operations.
func TestMemcaslapVerify(t *testing.T) {
	nstest.RequireCommands(t, "memcaslap")
	d := startCachectl(t)
	out := runTool(t, 120*time.Second, "memcaslap", "-s", d.addr, "-T", "1", "-c", "8", "-x", "20000", "-v", "1", "-e", "0.05")
	if !strings.Contains(out, "Run time") {
		t.Fatalf("memcaslap did not finish:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		// A wrong value, a value back after its expiry, or a lost item.
		if len(f) == 2 && (f[0] == "verify_failed:" || f[0] == "expired_get:" || f[0] == "get_misses:") && f[1] != "0" {
			t.Fatalf("memcaslap: %s\n%s", l, out)
		}
	}
}
