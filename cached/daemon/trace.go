package daemon

import (
	"fmt"
	"os"
	"runtime/trace"
)

// TraceEnv names a file for a runtime execution trace of the whole
// daemon's life: where its goroutines ran, blocked and waited, and every
// collection. It is for finding latency stalls, which CPU profiles do not
// show; a trace costs a few percent of CPU while it runs.
const TraceEnv = "CACHECTL_TRACE"

// startTrace starts the trace TraceEnv asks for and returns what ends it.
func startTrace() (func(), error) {
	name := os.Getenv(TraceEnv)
	if name == "" {
		return func() {}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TraceEnv, err)
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: starting the trace: %w", TraceEnv, err)
	}
	return func() {
		trace.Stop()
		f.Close()
	}, nil
}
