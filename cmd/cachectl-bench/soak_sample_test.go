package main

import (
	"os"
	"testing"
)

// TestSoakSampler: the sampler finds every key the soak reads, memcached's
// in `stats` and cachectl's own in `stats cachectl`, so no sample reads a
// missing key as 0.
func TestSoakSampler(t *testing.T) {
	probe, err := dialStats(startInProcess(t, 16))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.close()
	s, err := probe.sample(os.Getpid())
	if err != nil {
		t.Fatalf("sample: %v", err)
	}
	if s.Goroutines <= 0 || s.HeapBytes <= 0 || s.Conns <= 0 || s.RSSKB <= 0 {
		t.Errorf("sample %+v: every field should be positive", s)
	}
	st, err := probe.stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"go_gc_cycles", "go_gc_pause_total_us", "go_gc_pause_max_us", "evictions",
		"total_connections", "rejected_connections", "connection_panics"} {
		if _, ok := st[k]; !ok {
			t.Errorf("the soak report reads %s, which the stats have not", k)
		}
	}
}
