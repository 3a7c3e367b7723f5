package cached

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nginx's memcached_pass in front of the daemon, as sites serve pages
// their application put in the cache. nginx is strict where a library is
// lenient: the key in the VALUE line must be the one it asked for, the
// reply must end in exactly "\r\nEND\r\n" or the response is cut and the
// upstream connection dropped, and any error line is a 502.

const nginxConf = `daemon off;
master_process off;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream cache {
		server %[2]s;
		keepalive 4;
	}
	server {
		listen 127.0.0.1:%[3]d;
		location / {
			set $memcached_key "$uri";
			memcached_pass cache;
			memcached_gzip_flag 2;
			default_type application/octet-stream;
		}
	}
}
`

// startNginx runs nginx in the foreground in front of the cache at addr
// and returns its base URL.
func startNginx(t *testing.T, addr string) string {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, addr, port), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", conf)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", lastLines(string(log), 20))
		}
	})
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if nc, err := net.Dial("tcp", listen); err == nil {
			nc.Close()
			return "http://" + listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s", listen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// nginxPages are the cache entries the test serves through nginx: key
// (nginx's escaped $uri), flags and value.
func nginxPages() []struct {
	key   string
	flags int
	value []byte
} {
	rng := rand.New(rand.NewPCG(7, 11))
	big := make([]byte, 600_000) // many times nginx's 8 KB upstream buffer
	for i := range big {
		big[i] = byte(rng.IntN(256))
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(bytes.Repeat([]byte("<p>cached page</p>\n"), 500))
	zw.Close()
	return []struct {
		key   string
		flags int
		value []byte
	}{
		{"/index.html", 0, []byte("<h1>hello from the cache</h1>\n")},
		{"/empty", 0, nil},
		{"/gz", 2, zipped.Bytes()},
		{"/trailer", 0, []byte("a\r\nEND\r\nVALUE x 0 1\r\n")}, // looks like the reply's end
		{"/big", 5, big},
		{"/sp%20ace", 0, []byte("escaped key")},
	}
}

type nginxReply struct {
	status   int
	encoding string
	sum      [32]byte
	size     int
}

func (r nginxReply) String() string {
	return fmt.Sprintf("%d encoding=%q %d bytes sha256=%x", r.status, r.encoding, r.size, r.sum[:6])
}

func nginxGet(t *testing.T, client *http.Client, url string) nginxReply {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Asked for explicitly, so the client leaves the body as nginx sent it.
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return nginxReply{resp.StatusCode, resp.Header.Get("Content-Encoding"), sha256.Sum256(body), len(body)}
}

func TestNginxMemcachedPass(t *testing.T) {
	requireTool(t, "nginx", "nginx")
	pages := nginxPages()
	paths := []string{"/missing", "/sp ace", "/" + strings.Repeat("k", 300)}
	for _, p := range pages {
		if p.key != "/sp%20ace" {
			paths = append(paths, p.key)
		}
	}
	servers := map[string]string{"cachectl": startCachectl(t).addr, "memcached": memcachedAddr(t)}
	got := map[string]map[string]nginxReply{}
	for name, addr := range servers {
		nc := dial(t, addr)
		for _, p := range pages {
			req := fmt.Sprintf("set %s %d 0 %d\r\n%s\r\n", p.key, p.flags, len(p.value), p.value)
			if got := textRequest(t, nc, req, ""); got[0] != "STORED" {
				t.Fatalf("%s: set %s: %q", name, p.key, got)
			}
		}
		base := startNginx(t, addr)
		client := &http.Client{Timeout: 10 * time.Second}
		got[name] = map[string]nginxReply{}
		for _, path := range paths {
			got[name][path] = nginxGet(t, client, base+path)
		}
		// Every good reply leaves the upstream connection reusable: nginx
		// drops one whose reply did not end as it expects.
		total := func() int {
			n, _ := strconv.Atoi(statValue(textRequest(t, nc, "stats\r\n", "END"), "total_connections"))
			return n
		}
		before := total()
		for i := range 30 {
			if r := nginxGet(t, client, base+pages[i%len(pages)].key); r.status != 200 {
				t.Fatalf("%s: GET %s: %v", name, pages[i%len(pages)].key, r)
			}
		}
		if opened := total() - before; opened > 1 {
			t.Errorf("%s: nginx opened %d upstream connections for 30 requests in a row; it drops one after a reply it does not accept", name, opened)
		}
		checkNginxUnderLoad(t, name, base, pages)
	}
	want := map[string]int{"/missing": 404, "/sp ace": 200, "/" + strings.Repeat("k", 300): 502}
	for _, path := range paths {
		ours, ref := got["cachectl"][path], got["memcached"][path]
		if ours != ref {
			t.Errorf("GET %.40s: cachectl %v, memcached %v", path, ours, ref)
		}
		if w, ok := want[path]; ok && ours.status != w {
			t.Errorf("GET %.40s: status %d, want %d", path, ours.status, w)
		} else if !ok && ours.status != 200 {
			t.Errorf("GET %.40s: status %d, want 200", path, ours.status)
		}
	}
	if g := got["cachectl"]["/gz"]; g.encoding != "gzip" {
		t.Errorf("flags 2 (memcached_gzip_flag) served without Content-Encoding: gzip: %v", g)
	}
}

// checkNginxUnderLoad sends concurrent requests through nginx's pooled
// upstream connections and checks every body.
func checkNginxUnderLoad(t *testing.T, name, base string, pages []struct {
	key   string
	flags int
	value []byte
}) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				p := pages[(g+i)%len(pages)]
				path := strings.ReplaceAll(p.key, "%20", " ")
				r := nginxGet(t, client, base+path)
				if r.status != 200 || r.sum != sha256.Sum256(p.value) {
					errs <- fmt.Sprintf("%s: GET %s under load: %v, want 200 with %d bytes", name, path, r, len(p.value))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
