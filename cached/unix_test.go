package cached

import (
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// pythonWith finds a python3 that can import module: Debian's python3
// packages install into /usr/bin/python3, which a PATH python may shadow.
func pythonWith(t testing.TB, module string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(py, "-c", "import "+module).Run(); err == nil {
			return py
		}
	}
	nstest.Unavailable(t, "needs python3 with %s (Debian python3-pymemcache)", module)
	return ""
}

// TestUnixSocket serves over a unix socket that replaces a stale one,
// with -a's permissions, and talks to it with pymemcache and a raw client.
func TestUnixSocket(t *testing.T) {
	py := pythonWith(t, "pymemcache")
	dir := t.TempDir()
	path := filepath.Join(dir, "cached.sock")
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close() // a daemon that died leaves its socket file behind

	cfg := DefaultConfig()
	cfg.UnixSocket = path
	cfg.UnixMask = 0o660
	cfg.UDPPort = 0
	serveTransport(t, cfg, nil)

	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want socket with 0660", fi.Mode())
	}

	script := `import sys
from pymemcache.client.base import Client
c = Client(sys.argv[1])
c.set('greeting', b'hello over unix', expire=0)
print(c.get('greeting').decode())
print(c.incr('n', 1) is None)
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil || string(out) != "hello over unix\nTrue\n" {
		t.Fatalf("pymemcache over unix socket: %v: %q", err, out)
	}

	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	conns := strings.Join(textRequest(t, nc, "stats conns\r\n", "END"), "\n")
	for _, want := range []string{":addr unix:" + path + "\n", ":listen_addr unix:" + path + "\n", ":addr ?:<AF 0>\n"} {
		if !strings.Contains(conns, want) {
			t.Errorf("stats conns lacks %q:\n%s", want, conns)
		}
	}
	settings := textRequest(t, nc, "stats settings\r\n", "END")
	if v := statValue(settings, "domain_socket"); v != path {
		t.Errorf("domain_socket = %q, want %q", v, path)
	}
	if v := statValue(settings, "umask"); v != "660" {
		t.Errorf("umask = %q, want 660", v)
	}
}

// TestUnixSocketRefusals: a file that is not a socket is never replaced,
// and a socket a live daemon serves on is not stolen from it.
func TestUnixSocketRefusals(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "data")
	if err := os.WriteFile(regular, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	for _, tt := range []struct{ path, want string }{
		{regular, "refusing to replace a file that is not a socket"},
		{dir, "refusing to replace a file that is not a socket"},
		{live, "another process is serving on it"},
	} {
		cfg := DefaultConfig()
		cfg.UnixSocket = tt.path
		cfg.Store.MemoryLimit = 8 << 20
		srv, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = srv.Listen()
		srv.store.Close()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Listen on %s: %v, want an error saying %q", tt.path, err, tt.want)
		}
	}
	if b, err := os.ReadFile(regular); err != nil || string(b) != "precious" {
		t.Errorf("regular file touched: %q, %v", b, err)
	}
	if nc, err := net.Dial("unix", live); err != nil {
		t.Errorf("live socket no longer reachable: %v", err)
	} else {
		nc.Close()
	}
}
