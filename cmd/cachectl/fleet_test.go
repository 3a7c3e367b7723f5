package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// fleetPolicy is each cache host's policy: it listens on its link to the
// bridge and admits only the proxy and the app server, with the firewall
// managed by cachectl. The README's "Running a fleet" shows the same file.
const fleetPolicy = `version: 1
bind:
  interfaces: [%s]
  port: 11211
peers:
  allow_loopback: true
  allowed:
    - cidr: %s/32
      comment: twemproxy
    - cidr: %s/32
      comment: app server (HashClient)
firewall:
  managed: true
  verdict: reject
`

// fleetQuery answers "which hosts have violations or refused peers"; the
// README quotes it.
const fleetQuery = `max by (instance) (cachectl_audit_violations) > 0
or sum by (instance) (increase(cachectl_firewall_refused_packets_total[10m])) > 0
or sum by (instance) (increase(cachectl_denied_connections_total[10m])) > 0`

// proxyKeys are stored through twemproxy: enough that each host gets some.
const proxyKeys = 120

// fleet is three cache hosts, a proxy namespace (the bridge: twemproxy and
// Prometheus), an app server and a rogue client, on one /24.
type fleet struct {
	proxy, app, rogue *nstest.NS
	hosts             []*nstest.NS
	policies          []string
	caches, metrics   []netip.AddrPort
	daemons           []*daemonProc
	proxyAddr, stats  netip.AddrPort
	prom              netip.AddrPort
}

// TestFleet runs cachectl on three hosts behind twemproxy (ketama) and behind
// pymemcache's HashClient, scraped by Prometheus: keys spread over every
// host, every audit is clean, a client bypassing the proxy is refused and
// shows in the counters, the metrics and a PromQL answer, and when a host
// stops the proxy ejects it and the others keep serving.
func TestFleet(t *testing.T) {
	nstest.RequireRoot(t, "iptables", "ip6tables", "nutcracker", "prometheus", "promtool", "/usr/bin/python3")
	f := newFleet(t)
	startTwemproxy(t, f.proxy, f.proxyAddr, f.stats, f.caches)
	f.app.WaitListening(f.proxyAddr, 10*time.Second)
	rules, err := filepath.Abs("dist/cachectl-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	startPrometheus(t, f.proxy, f.prom, rules, f.metrics)

	viaProxy := f.spreadThroughProxy(t)
	f.spreadWithHashClient(t)
	f.auditsAreClean(t)
	f.bypassIsRefused(t)
	f.prometheusNamesTheHost(t)
	f.survivesAStoppedHost(t, viaProxy)
}

func newFleet(t *testing.T) *fleet {
	star := nstest.NewStar(t, 5)
	f := &fleet{proxy: star.Server, hosts: star.Clients[:3], app: star.Clients[3], rogue: star.Clients[4],
		proxyAddr: netip.AddrPortFrom(star.Addr4, 22121),
		stats:     netip.AddrPortFrom(star.Addr4, 22222),
		prom:      netip.AddrPortFrom(star.Addr4, 9090)}
	for i, h := range f.hosts {
		path := filepath.Join(t.TempDir(), "policy.yaml")
		pol := fmt.Sprintf(fleetPolicy, star.ClientIface(h), star.Addr4, star.Client4[3])
		if err := os.WriteFile(path, []byte(pol), 0o644); err != nil {
			t.Fatal(err)
		}
		mustCachectl(t, h, "apply", "--policy", path)
		f.policies = append(f.policies, path)
		f.caches = append(f.caches, netip.AddrPortFrom(star.Client4[i], 11211))
		f.metrics = append(f.metrics, netip.AddrPortFrom(star.Client4[i], 9150))
		f.daemons = append(f.daemons, startCachectl(t, h, "bind", "--policy", path,
			"--metrics-listen", f.metrics[i].String(), "--audit-interval", "1s"))
	}
	for i := range f.hosts {
		f.proxy.WaitListening(f.caches[i], 10*time.Second)
		f.daemons[i].waitOutput(t, 10*time.Second, "serving Prometheus metrics")
	}
	return f
}

// items reads cachectl_items of every host from its metrics.
func (f *fleet) items(t *testing.T) []float64 {
	t.Helper()
	out := make([]float64, len(f.hosts))
	for i, m := range f.metrics {
		fams, err := scrapeIn(f.proxy, m)
		if err != nil {
			t.Fatalf("scraping host %d: %v", i, err)
		}
		var ok bool
		if out[i], ok = sample(fams, "cachectl_items"); !ok {
			t.Fatalf("host %d reports no cachectl_items", i)
		}
	}
	return out
}

// spreadThroughProxy stores keys through twemproxy and shows that every
// host holds some; it returns how many each holds.
func (f *fleet) spreadThroughProxy(t *testing.T) []float64 {
	const n = proxyKeys
	c := f.proxyClient(t)
	defer c.nc.Close()
	for i := range n {
		if r, err := c.cmd(fmt.Sprintf("set proxy%d 0 0 7\r\nv%06d\r\n", i, i)); err != nil || r != "STORED\r\n" {
			t.Fatalf("set proxy%d through twemproxy: %q, %v", i, r, err)
		}
	}
	items := f.items(t)
	if slices.Contains(items, 0) || sum(items) != n {
		t.Fatalf("items per host after %d sets through twemproxy: %v; want every host some, %d in all", n, items, n)
	}
	t.Logf("twemproxy spread %d keys as %v", n, items)
	return items
}

// spreadWithHashClient does the same from the app server, which hashes
// keys onto the hosts itself.
func (f *fleet) spreadWithHashClient(t *testing.T) {
	const n = 60
	before := f.items(t)
	if failures := runHashClient(t, f.app, "hash", f.caches, n); failures != 0 {
		t.Errorf("HashClient had %d failed sets with every host up", failures)
	}
	after := f.items(t)
	for i := range after {
		if after[i] <= before[i] {
			t.Errorf("host %d got none of HashClient's keys (items %v -> %v)", i, before[i], after[i])
		}
	}
	if got := sum(after) - sum(before); got != n {
		t.Errorf("HashClient stored %v keys in all, want %d", got, n)
	}
}

// auditsAreClean audits every host the way an operator collects reports:
// `cachectl audit --json` on each, exit 0, the proxy and the app permitted.
func (f *fleet) auditsAreClean(t *testing.T) {
	for i, h := range f.hosts {
		rep := f.audit(t, i)
		if rep.Summary.Violations != 0 || rep.Summary.Errors != 0 {
			t.Errorf("host %d audit: %+v", i, rep.Summary)
		}
		var peers []string
		for _, p := range rep.Peers {
			peers = append(peers, p.Addr+"="+p.Verdict)
		}
		// twemproxy keeps its server connections open; HashClient's have
		// closed and may or may not still be in TIME_WAIT.
		if want := f.proxyAddr.Addr().String() + "=permitted"; !slices.Contains(peers, want) {
			t.Errorf("host %d (%s) audit peers %v lack %s", i, h.Name, peers, want)
		}
	}
}

type auditJSON struct {
	Peers []struct {
		Addr    string `json:"addr"`
		Verdict string `json:"verdict"`
	} `json:"peers"`
	Summary struct {
		Violations     int    `json:"violations"`
		Errors         int    `json:"errors"`
		BlockedPackets uint64 `json:"blocked_packets"`
	} `json:"summary"`
}

func (f *fleet) audit(t *testing.T, i int) auditJSON {
	t.Helper()
	code, out := runCachectl(t, f.hosts[i], "audit", "--policy", f.policies[i], "--json")
	var rep auditJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("host %d: cachectl audit exit %d (%v):\n%s", i, code, err, out)
	}
	return rep
}

// bypassIsRefused connects from the rogue namespace straight to host 0:
// the firewall refuses it at once, the audit's blocked counter and the
// metrics show it, and the audit stays clean (no flow was let in).
func (f *fleet) bypassIsRefused(t *testing.T) {
	waitFor(t, 20*time.Second, "Prometheus holding a refused-packets sample of every host", func() bool {
		got, err := promQuery(f.proxy, f.prom, `cachectl_firewall_refused_packets_total{family="ipv4"} == 0`)
		return err == nil && len(got) == len(f.hosts)
	})
	_, err := f.rogue.Dial(f.caches[0], 2*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("a client bypassing the proxy: %v, want connection refused by the firewall", err)
	}
	if rep := f.audit(t, 0); rep.Summary.BlockedPackets == 0 || rep.Summary.Violations != 0 {
		t.Errorf("host 0 audit after the bypass: %+v; want blocked packets and no violation", rep.Summary)
	}
	// A scrape may be served from a firewall read up to a second old.
	var fams map[string]*dto.MetricFamily
	waitFor(t, 5*time.Second, "host 0's metrics to count the refused packet", func() bool {
		var err error
		fams, err = scrapeIn(f.proxy, f.metrics[0])
		v, ok := sample(fams, "cachectl_firewall_refused_packets_total", "family", "ipv4")
		return err == nil && ok && v >= 1
	})
	if v, ok := sample(fams, "cachectl_firewall_in_sync", "family", "ipv4"); !ok || v != 1 {
		t.Errorf("host 0 firewall in sync = %v (present %v), want 1", v, ok)
	}
}

// prometheusNamesTheHost asks Prometheus which hosts have violations or
// refused peers: host 0, and only host 0.
func (f *fleet) prometheusNamesTheHost(t *testing.T) {
	want := []string{f.metrics[0].String()}
	var got []string
	var err error
	waitFor(t, 30*time.Second, "Prometheus naming host 0 as refusing peers", func() bool {
		got, err = promQuery(f.proxy, f.prom, fleetQuery)
		return err == nil && slices.Equal(got, want)
	})
}

// survivesAStoppedHost stops host 2: twemproxy ejects it and the keys on
// the other hosts stay where ketama put them; new keys all land; HashClient
// drops the dead host from its ring and carries on.
func (f *fleet) survivesAStoppedHost(t *testing.T, viaProxy []float64) {
	if code := f.daemons[2].stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("host 2 exit code %d after SIGTERM", code)
	}
	for i := range 60 {
		f.proxySetRetrying(t, fmt.Sprintf("after%d", i))
	}
	waitFor(t, 10*time.Second, "twemproxy counting host 2's ejection", func() bool {
		n, err := twemproxyEjects(f.proxy, f.stats)
		return err == nil && n >= 1
	})
	c := f.proxyClient(t)
	defer c.nc.Close()
	hits := 0
	for i := range proxyKeys {
		r, err := c.cmd(fmt.Sprintf("get proxy%d\r\n", i))
		if err != nil {
			t.Fatalf("get proxy%d: %v", i, err)
		}
		if strings.HasPrefix(r, "VALUE ") {
			hits++
		} else if r != "END\r\n" {
			t.Logf("get proxy%d: %q", i, r)
		}
	}
	if want := int(viaProxy[0] + viaProxy[1]); hits != want {
		t.Errorf("after host 2 stopped, %d of the earlier keys are still served; want host 0's and 1's %d", hits, want)
	}
	if n := runHashClient(t, f.app, "late", f.caches, 60); n == 0 {
		t.Errorf("HashClient never failed against the stopped host 2: was it stopped?")
	}
}

// proxyConn is a text-protocol connection to twemproxy from the app server.
type proxyConn struct{ *mcConn }

func (f *fleet) proxyClient(t *testing.T) proxyConn {
	t.Helper()
	c, err := dialMC(f.app, f.proxyAddr)
	if err != nil {
		t.Fatalf("dialling twemproxy: %v", err)
	}
	return proxyConn{c}
}

// cmd sends one request and reads its whole reply: a storage reply, END,
// or an error line (twemproxy answers SERVER_ERROR for a failed server).
func (c proxyConn) cmd(req string) (string, error) {
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write([]byte(req)); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		line, err := c.rd.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		switch l := strings.TrimRight(line, "\r\n"); {
		case l == "STORED" || l == "END" || l == "NOT_STORED",
			strings.HasPrefix(l, "SERVER_ERROR") || strings.HasPrefix(l, "CLIENT_ERROR") || l == "ERROR":
			return b.String(), nil
		}
	}
}

// proxySetRetrying stores key through twemproxy, on a fresh connection per
// try, up to 5 tries: a key that maps to a host just stopped fails until
// twemproxy ejects it.
func (f *fleet) proxySetRetrying(t *testing.T, key string) {
	t.Helper()
	var last string
	for range 5 {
		c := f.proxyClient(t)
		r, err := c.cmd(fmt.Sprintf("set %s 0 0 2\r\nok\r\n", key))
		c.nc.Close()
		if err == nil && r == "STORED\r\n" {
			return
		}
		last = fmt.Sprintf("%q, %v", r, err)
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("twemproxy did not store %s in 5 tries with host 2 down: last %s", key, last)
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}
