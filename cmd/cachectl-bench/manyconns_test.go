package main

import (
	"strings"
	"testing"
	"time"
)

func TestManyConnsAggregate(t *testing.T) {
	trial := func(kind serverKind, pair int, rssKB int64, p99ms int, ops float64, errs int64) manyConnsTrial {
		return manyConnsTrial{Server: kind, Pair: pair, RSSKB: rssKB,
			W1:   &loadResult{P99: time.Duration(p99ms) * time.Millisecond, OpsPerSec: ops, Errors: errs},
			Idle: &loadResult{P99: time.Millisecond}}
	}
	tests := []struct {
		name              string
		trials            []manyConnsTrial
		rss, p99, thr     float64
		errors            int64
		mcRSSKB, ourRSSKB int64
	}{
		{
			name: "medians of per-pair ratios",
			trials: []manyConnsTrial{
				trial(memcached, 0, 30000, 4, 60000, 0), trial(cachectl, 0, 45000, 2, 60000, 0),
				trial(cachectl, 1, 40000, 4, 66000, 0), trial(memcached, 1, 40000, 4, 60000, 0),
				trial(memcached, 2, 20000, 8, 50000, 0), trial(cachectl, 2, 30000, 2, 40000, 1),
			},
			rss: 1.5, p99: 0.5, thr: 1.0, errors: 1, mcRSSKB: 30000, ourRSSKB: 40000,
		},
		{
			name:   "a pair missing one side is left out",
			trials: []manyConnsTrial{trial(memcached, 0, 30000, 4, 60000, 0), trial(cachectl, 1, 30000, 4, 60000, 0)},
			rss:    0, p99: 0, thr: 0, mcRSSKB: 30000, ourRSSKB: 30000,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &manyConnsResult{Conns: 10000, Trials: tc.trials}
			r.aggregate()
			if r.RSSRatio != tc.rss || r.P99Ratio != tc.p99 || r.ThrRatio != tc.thr || r.Errors != tc.errors {
				t.Errorf("ratios rss %.2f p99 %.2f thr %.2f errors %d, want %.2f %.2f %.2f %d",
					r.RSSRatio, r.P99Ratio, r.ThrRatio, r.Errors, tc.rss, tc.p99, tc.thr, tc.errors)
			}
			if r.Memcached.RSSKB != tc.mcRSSKB || r.Cachectl.RSSKB != tc.ourRSSKB {
				t.Errorf("median RSS mc %d ours %d, want %d %d", r.Memcached.RSSKB, r.Cachectl.RSSKB, tc.mcRSSKB, tc.ourRSSKB)
			}
			var b strings.Builder
			r.writeText(&b)
			if !strings.Contains(b.String(), "| 10000 |") {
				t.Errorf("table lacks the connections row:\n%s", b.String())
			}
		})
	}
}
