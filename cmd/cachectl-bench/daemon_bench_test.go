package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cachectl/cachectl/cached"
)

// startInProcess runs the cached package on a free loopback port inside
// the test binary, so `go test -cpuprofile` sees the daemon's code (with
// the client's: focus pprof on cached/ to separate them).
func startInProcess(tb testing.TB, memMB uint64) string {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := cached.DefaultConfig()
	cfg.Listen, cfg.Port, cfg.Threads = []string{"127.0.0.1"}, port, 2
	cfg.Store.MemoryLimit = memMB << 20
	srv, err := cached.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tb.Error("daemon did not stop within 10s")
		}
	})
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// benchWorkload drives an in-process daemon with workload id for b.N
// commands (keys for multi-gets) and fails on any wrong reply.
func benchWorkload(b *testing.B, id string) {
	ws, err := selectWorkloads(workloads(), id)
	if err != nil {
		b.Fatal(err)
	}
	w := ws[0]
	addr := startInProcess(b, uint64(w.MemoryMB))
	if w.Preload > 0 {
		if _, err := preload(context.Background(), addr, w.Preload, 4, w.Load.MinSize, w.Load.MaxSize, 1, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	lc := w.Load
	lc.Addr, lc.Seed, lc.ValueSeed = addr, 2, 1
	lc.MaxOps, lc.Duration = int64(b.N), 5*time.Minute
	if w.PerKey {
		lc.MaxOps = int64(max(1, b.N/lc.MultiGet))
	}
	b.ResetTimer()
	r, err := runLoad(context.Background(), lc)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if r.Errors > 0 {
		b.Fatalf("%d wrong replies; first: %s", r.Errors, r.FirstError)
	}
	b.ReportMetric(float64(r.P99.Microseconds()), "p99-us")
	b.ReportMetric(r.HitRate, "hit-rate")
}

func BenchmarkDaemonW1(b *testing.B) { benchWorkload(b, "W1") }
func BenchmarkDaemonW4(b *testing.B) { benchWorkload(b, "W4") }
func BenchmarkDaemonW5(b *testing.B) { benchWorkload(b, "W5") }
func BenchmarkDaemonW6(b *testing.B) { benchWorkload(b, "W6") }
