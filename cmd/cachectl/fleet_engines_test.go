package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// The existing engines the fleet test puts cachectl behind: twemproxy
// (Debian's nutcracker) as the proxy, pymemcache's HashClient as client-side
// consistent hashing, and a Prometheus server. Each runs in a namespace and
// is killed at cleanup.

// startTwemproxy runs nutcracker in ns, listening on listen, spreading keys
// over servers with ketama and ejecting a server after one failure. Its
// stats (JSON) are served on statsAddr, aggregated every 500 ms.
func startTwemproxy(t *testing.T, ns *nstest.NS, listen, statsAddr netip.AddrPort, servers []netip.AddrPort) {
	t.Helper()
	dir := t.TempDir()
	var conf strings.Builder
	fmt.Fprintf(&conf, "cache:\n  listen: %s\n  hash: md5\n  distribution: ketama\n", listen)
	conf.WriteString("  timeout: 400\n  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 30000\n  servers:\n")
	for i, s := range servers {
		fmt.Fprintf(&conf, "    - %s:1 host%d\n", s, i)
	}
	path := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nutcracker", "-t", "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("nutcracker -t: %v\n%s\n%s", err, out, conf.String())
	}
	ns.Start("nutcracker", "-c", path, "-s", fmt.Sprint(statsAddr.Port()), "-a", statsAddr.Addr().String(),
		"-i", "500", "-p", filepath.Join(dir, "nutcracker.pid"), "-o", filepath.Join(dir, "nutcracker.log"))
}

// twemproxyEjects reads the pool's server_ejects from nutcracker's stats
// port, which writes one JSON document per connection.
func twemproxyEjects(ns *nstest.NS, stats netip.AddrPort) (float64, error) {
	c, err := ns.Dial(stats, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return 0, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, fmt.Errorf("nutcracker stats %q: %w", b, err)
	}
	var pool map[string]json.RawMessage
	if err := json.Unmarshal(doc["cache"], &pool); err != nil {
		return 0, fmt.Errorf("nutcracker stats have no pool: %w", err)
	}
	var ejects float64
	err = json.Unmarshal(pool["server_ejects"], &ejects)
	return ejects, err
}

// hashClientScript stores n keys with pymemcache's HashClient (rendezvous
// hashing over the servers), retrying a key a few times so a dead server is
// dropped from the ring as HashClient does, then reads every key back.
const hashClientScript = `
import json, sys
from pymemcache.client.hash import HashClient
prefix, servers, n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
c = HashClient([(s.rsplit(":", 1)[0], int(s.rsplit(":", 1)[1])) for s in servers],
               connect_timeout=1, timeout=1, retry_attempts=1, retry_timeout=0, dead_timeout=60,
               default_noreply=False)
failures = 0
for i in range(n):
    for attempt in range(5):
        try:
            if c.set("%s%d" % (prefix, i), "value-%d" % i):
                break
        except Exception:
            failures += 1
    else:
        sys.exit("set %s%d failed 5 times" % (prefix, i))
for i in range(n):
    got = c.get("%s%d" % (prefix, i))
    if got != ("value-%d" % i).encode():
        sys.exit("get %s%d: %r" % (prefix, i, got))
print(json.dumps({"stored": n, "failures": failures}))
`

// runHashClient runs the script in ns and returns how many set attempts failed.
func runHashClient(t *testing.T, ns *nstest.NS, prefix string, servers []netip.AddrPort, n int) int {
	t.Helper()
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.String())
	}
	out := ns.MustRun("/usr/bin/python3", "-c", hashClientScript, prefix, strings.Join(addrs, ","), fmt.Sprint(n))
	var res struct{ Stored, Failures int }
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); err != nil || res.Stored != n {
		t.Fatalf("HashClient: %q (%v)", out, err)
	}
	return res.Failures
}

// startPrometheus runs a Prometheus server in ns scraping targets every
// second, with rules loaded, and waits until it is ready.
func startPrometheus(t *testing.T, ns *nstest.NS, listen netip.AddrPort, rules string, targets []netip.AddrPort) {
	t.Helper()
	dir := t.TempDir()
	var quoted []string
	for _, tg := range targets {
		quoted = append(quoted, fmt.Sprintf("%q", tg.String()))
	}
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nrule_files: [%q]\nscrape_configs:\n  - job_name: cachectl\n    static_configs:\n      - targets: [%s]\n",
		rules, strings.Join(quoted, ", "))
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "config", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	ns.Start("prometheus", "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen.String(), "--log.level=warn")
	waitFor(t, 30*time.Second, "Prometheus ready", func() bool {
		resp, err := nsHTTP(ns, listen).Get("http://" + listen.String() + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// promQuery runs an instant PromQL query through the HTTP API and returns
// the instance label of every series in the answer, sorted.
func promQuery(ns *nstest.NS, prom netip.AddrPort, query string) ([]string, error) {
	resp, err := nsHTTP(ns, prom).Get("http://" + prom.String() + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     []struct{ Metric map[string]string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", query, body.Error)
	}
	var out []string
	for _, r := range body.Data.Result {
		out = append(out, r.Metric["instance"])
	}
	sort.Strings(out)
	return out, nil
}
