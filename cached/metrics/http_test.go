package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cachectl/cachectl/cached"
)

// TestServeScrapesARealDaemon runs a real server on loopback, drives it
// over the memcached protocol, scrapes /metrics over HTTP and reads the
// answer with Prometheus's own text-format parser.
func TestServeScrapesARealDaemon(t *testing.T) {
	cfg := cached.DefaultConfig()
	cfg.Listen, cfg.Port, cfg.Threads = []string{"127.0.0.1"}, freePort(t), 1
	srv, err := cached.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() { cancel(); <-served }()

	reg, err := Registry(NewCollector(Sources{Daemon: ServerStats(srv), Version: cached.Version}))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := Serve(ctx, "127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	c, err := net.DialTimeout("tcp", srv.Addrs()[0].String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprint(c, "set k 0 0 5\r\nhello\r\nget k\r\nget nope\r\nmn\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	var got string
	for !strings.HasSuffix(got, "MN\r\n") {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("reading replies %q: %v", got, err)
		}
		got += string(buf[:n])
	}

	fams := scrape(t, "http://"+addr.String()+"/metrics")
	for name, want := range map[string]float64{
		"cachectl_get_hits_total":   1,
		"cachectl_get_misses_total": 1,
		"cachectl_items":            1,
		"cachectl_connections":      1,
		"cachectl_limit_bytes":      64 << 20,
	} {
		if v, ok := value(fams, name); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "cachectl_denied_connections_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing from the scrape", name)
		}
	}
}

// TestServeRefusesABadAddress: the error comes at start, naming the address.
func TestServeRefusesABadAddress(t *testing.T) {
	reg, err := Registry(NewCollector(Sources{Daemon: fixedDaemon}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Serve(context.Background(), "127.0.0.1", reg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "listening on 127.0.0.1") {
		t.Errorf("Serve without a port: %v", err)
	}
}

// freePort is a loopback TCP port free a moment ago: the daemon refuses
// port 0, as memcached reads -p 0 as "TCP off".
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	cl := http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return fams
}

// value is the sample of an unlabelled counter or gauge.
func value(fams map[string]*dto.MetricFamily, name string) (float64, bool) {
	mf, ok := fams[name]
	if !ok || len(mf.GetMetric()) != 1 {
		return 0, false
	}
	m := mf.GetMetric()[0]
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue(), true
	}
	return m.GetGauge().GetValue(), true
}
