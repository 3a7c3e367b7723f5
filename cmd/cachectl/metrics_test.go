package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

func TestMetricsFlagsChecked(t *testing.T) {
	for _, tc := range []struct {
		o             metricsOptions
		intervalGiven bool
		want          string // "" = accepted
	}{
		{metricsOptions{}, false, ""},
		{metricsOptions{auditInterval: defaultAuditInterval}, false, ""},
		{metricsOptions{listen: "127.0.0.1:9150", auditInterval: time.Second}, true, ""},
		{metricsOptions{listen: "[::1]:9150"}, false, ""},
		{metricsOptions{listen: ":9150"}, false, ""},
		{metricsOptions{listen: "127.0.0.1"}, false, "want ADDR:PORT"},
		{metricsOptions{listen: "127.0.0.1:http"}, false, "not 1-65535"},
		{metricsOptions{listen: "127.0.0.1:0"}, false, "not 1-65535"},
		{metricsOptions{listen: "127.0.0.1:9150", auditInterval: -time.Second}, true, "positive duration"},
		{metricsOptions{auditInterval: time.Second}, true, "give --metrics-listen"},
	} {
		err := tc.o.check(tc.intervalGiven)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v refused: %v", tc.o, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one saying %q", tc.o, err, tc.want)
		case tc.want != "" && exitCode(err) != exitUsage:
			t.Errorf("%+v: exit code %d, want %d", tc.o, exitCode(err), exitUsage)
		}
	}
}

// scrapeIn fetches http://addr/metrics from inside ns and parses it with
// Prometheus's own text-format parser.
func scrapeIn(ns *nstest.NS, addr netip.AddrPort) (map[string]*dto.MetricFamily, error) {
	resp, err := nsHTTP(ns, addr).Get("http://" + addr.String() + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// nsHTTP is an HTTP client whose connections to addr are made inside ns.
func nsHTTP(ns *nstest.NS, addr netip.AddrPort) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return ns.Dial(addr, 2*time.Second)
		},
	}}
}

// sample is the value of name's series whose labels include labels
// ("k", "v" pairs); false when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == kv[i] && lp.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
