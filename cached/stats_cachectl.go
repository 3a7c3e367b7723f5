package cached

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// statsCachectl is `stats cachectl`: the counters cachectl keeps that
// memcached does not. They are a group of their own because plain `stats`
// must carry exactly memcached's keys: memcached's test suite and the
// tools that parse `stats` count them.
func (c *conn) statsCachectl() {
	s := c.srv
	c.stat("denied_connections", s.denied.Load())
	c.stat("udp_denied", s.udpDenied.Load())
	c.stat("connection_panics", s.panics.Load())
	c.statsRuntime()
	if s.cfg.ExtraStats != nil {
		s.cfg.ExtraStats(c.stat)
	}
}

// runtimeSamples are the Go runtime figures `stats cachectl` reports, so
// an operator (and the soak test) can see goroutine and heap growth
// without a profiler.
var runtimeSamples = []string{"/sched/goroutines:goroutines", "/memory/classes/heap/objects:bytes", "/gc/cycles/total:gc-cycles"}

// statsRuntime reports goroutines, heap and GC pauses. runtime/metrics and
// debug.ReadGCStats take only the heap lock: runtime.ReadMemStats would
// stop the world on every `stats cachectl`, which a monitoring poller must
// not do. The pause maximum is over the runtime's ring of the last 256
// cycles.
func (c *conn) statsRuntime() {
	samples := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		samples[i].Name = name
	}
	metrics.Read(samples)
	var gc debug.GCStats
	debug.ReadGCStats(&gc)
	var maxPause time.Duration
	for _, p := range gc.Pause {
		maxPause = max(maxPause, p)
	}
	c.stat("go_goroutines", sampleUint(samples[0]))
	c.stat("go_heap_bytes", sampleUint(samples[1]))
	c.stat("go_gc_cycles", sampleUint(samples[2]))
	c.stat("go_gc_pause_total_us", gc.PauseTotal.Microseconds())
	c.stat("go_gc_pause_max_us", maxPause.Microseconds())
}

// sampleUint is 0 for a metric this Go does not have, rather than a panic.
func sampleUint(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}
