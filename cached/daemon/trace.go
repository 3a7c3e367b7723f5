package daemon

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// TraceEnv names a file for a runtime execution trace of the whole
// daemon's life: where its goroutines ran, blocked and waited, and every
// collection. It is for finding latency stalls, which CPU profiles do not
// show; a trace costs a few percent of CPU while it runs.
const TraceEnv = "CACHECTL_TRACE"

// CPUProfileEnv names a file for a CPU profile of the daemon's life.
const CPUProfileEnv = "CACHECTL_CPUPROFILE"

// MemProfileEnv names a file for a heap profile written when the daemon
// stops: what the Go heap holds beside the slabs (index, connections,
// buffers). Setting it samples every 4 KB allocated instead of every
// 512 KB, so small per-connection structures show.
const MemProfileEnv = "CACHECTL_MEMPROFILE"

// startTrace starts the trace and profile the environment asks for and
// returns what ends them.
func startTrace() (func(), error) {
	var stops []func()
	stop := func() {
		for _, f := range stops {
			f()
		}
	}
	if name := os.Getenv(TraceEnv); name != "" {
		f, err := os.Create(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", TraceEnv, err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: starting the trace: %w", TraceEnv, err)
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	if name := os.Getenv(CPUProfileEnv); name != "" {
		f, err := os.Create(name)
		if err != nil {
			stop()
			return nil, fmt.Errorf("%s: %w", CPUProfileEnv, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			stop()
			return nil, fmt.Errorf("%s: starting the profile: %w", CPUProfileEnv, err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if name := os.Getenv(MemProfileEnv); name != "" {
		f, err := os.Create(name)
		if err != nil {
			stop()
			return nil, fmt.Errorf("%s: %w", MemProfileEnv, err)
		}
		runtime.MemProfileRate = 4096
		stops = append(stops, func() {
			// The heap at the stop, not the garbage since the last cycle.
			runtime.GC()
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		})
	}
	return stop, nil
}
