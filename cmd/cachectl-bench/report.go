package main

import (
	"fmt"
	"io"
	"time"
)

// report is everything one comparison measured.
type report struct {
	Machine machine `json:"machine"`
	Pairs   int     `json:"pairs"`
	// LatencyPairs is the paced runs' pair count.
	LatencyPairs int               `json:"latency_pairs"`
	Warmup       time.Duration     `json:"warmup_ns"`
	Measure      time.Duration     `json:"measure_ns"`
	Turn         time.Duration     `json:"turn_ns"`
	Workloads    []*workloadResult `json:"workloads"`
	Memory       []*memoryResult   `json:"memory,omitempty"`
	ManyConns    *manyConnsResult  `json:"many_conns,omitempty"`
	Fills        []*fillResult     `json:"fills,omitempty"`
	Memcaslap    *memcaslapResult  `json:"memcaslap,omitempty"`
	Failures     []string          `json:"failures,omitempty"`
}

func (r *report) hasPaced() bool {
	for _, x := range r.Workloads {
		if x.Paced != nil {
			return true
		}
	}
	return false
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/1e3) }

func (r *report) writeText(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "\n# cachectl vs memcached, %s\n", m.Date)
	fmt.Fprintf(w, "machine: nproc %d, kernel %s, CPU %s, %s, %s\n", m.NProc, m.Kernel, m.CPU, m.Go, m.Memcached)
	fmt.Fprintf(w, "loopback 64-byte ping-pong RTT %.1f us (<= %.0fk req/s per unpipelined connection), getppid %.0f ns\n",
		m.LoopbackRTTus, 1e3/max(m.LoopbackRTTus, 0.001), m.SyscallNs)
	fmt.Fprintf(w, "protocol: %d ABBA pairs per workload, fresh servers each pair, -t 2, warm-up %s, measured %s in alternating %s turns; ratios are medians of per-pair cachectl/memcached\n\n",
		r.Pairs, r.Warmup, r.Measure, r.Turn)
	if len(r.Workloads) > 0 {
		fmt.Fprintf(w, "| workload | unit | memcached | cachectl | thr ratio | p99 mc/ours (us) | p99 ratio | p99.9 ratio | CPU/op mc/ours (us) | CPU/op ratio | hit mc/ours | errors |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Workloads {
			fmt.Fprintf(w, "| %s %s | %s | %.0f | %.0f | **%.2f** | %s / %s | %.2f | %.2f | %.2f / %.2f | %.2f | %.3f / %.3f | %d |\n",
				x.ID, x.Desc, x.Unit, x.Memcached.Throughput, x.Cachectl.Throughput, x.ThroughputRatio,
				us(x.Memcached.P99), us(x.Cachectl.P99), x.P99Ratio, x.P999Ratio,
				x.Memcached.CPUPerOp, x.Cachectl.CPUPerOp, x.CPUPerOpRatio,
				x.Memcached.HitRate, x.Cachectl.HitRate, x.Errors)
		}
	}
	if r.hasPaced() {
		fmt.Fprintf(w, "\nLatency at equal offered load: both servers paced at the same rate, a fraction of memcached's throughput above; latency counts from each scheduled send; %d ABBA pairs.\n\n", r.LatencyPairs)
		fmt.Fprintf(w, "| workload | commands/s offered | p50 mc/ours (us) | p50 ratio | p99 mc/ours (us) | p99 ratio | p99.9 ratio | CPU/op ratio |\n")
		fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Workloads {
			p := x.Paced
			if p == nil {
				continue
			}
			fmt.Fprintf(w, "| %s | %.0f | %s / %s | %.2f | %s / %s | **%.2f** | %.2f | %.2f |\n",
				x.ID, p.Rate, us(p.Memcached.P50), us(p.Cachectl.P50), p.P50Ratio,
				us(p.Memcached.P99), us(p.Cachectl.P99), p.P99Ratio, p.P999Ratio, p.CPURatio)
		}
	}
	if r.ManyConns != nil {
		r.ManyConns.writeText(w)
	}
	if len(r.Memory) > 0 {
		fmt.Fprintf(w, "\n| memory | server | -m | RSS before kB | RSS after kB | bytes/item | load sets/s | GC cycles load/hold | max STW pause ms | hold p99 us |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Memory {
			gc, pause := "-", "-"
			if x.GCLoad != nil {
				h := &gcStats{}
				if x.GCHold != nil {
					h = x.GCHold
				}
				gc = fmt.Sprintf("%d / %d", x.GCLoad.Cycles, h.Cycles)
				pause = fmt.Sprintf("%.3f / %.3f", x.GCLoad.MaxPause, h.MaxPause)
			}
			fmt.Fprintf(w, "| %d x 100 B | %s | %d | %d | %d | **%.0f** | %.0f | %s | %s | %s |\n",
				x.Items, x.Server, x.MemoryMB, x.RSSBeforeKB, x.RSSAfterKB, x.BytesPerItem, x.LoadPerSec,
				gc, pause, us(time.Duration(x.HoldP99)))
		}
	}
	r.writeFills(w)
	if c := r.Memcaslap; c != nil {
		fmt.Fprintf(w, "\nmemcaslap 90/10 (-T 2 -c 64): memcached %.0f TPS, cachectl %.0f TPS, ratio %.2f, CPU/op ratio %.2f\n",
			c.MemcachedTPS, c.CachectlTPS, c.ThroughputRatio, c.CPUPerOpRatio)
	}
	for _, x := range r.Workloads {
		if x.Errors > 0 {
			fmt.Fprintf(w, "\nWRONG REPLIES in %s: %d; first: %s\n", x.ID, x.Errors, x.FirstError)
		}
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "\nFAILED: %s\n", f)
	}
}

// writeFills prints the items each server held at equal -m and the hit
// ratio a cache-aside Zipf client saw afterwards.
func (r *report) writeFills(w io.Writer) {
	if len(r.Fills) == 0 {
		return
	}
	fmt.Fprintf(w, "\nItems held at equal -m: each server filled with more keys than fit, then read by a cache-aside client (a miss is followed by a set), keys Zipf-distributed; the hit ratio is measured after a warm-up of as many reads.\n\n")
	fmt.Fprintf(w, "| fill | -m | items held mc / ours | items ratio | bytes stat mc / ours | RSS MB mc / ours | Zipf reads | hit mc / ours | hit ratio |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, f := range r.Fills {
		m, c := &f.Memcached, &f.Cachectl
		fmt.Fprintf(w, "| %s %s, Zipf s=%.2f | %d | %d / %d | **%.3f** | %d / %d | %.0f / %.0f | %d | %.4f / %.4f | **%.3f** |\n",
			f.ID, f.Desc, f.Zipf, f.MemoryMB, m.Items, c.Items, f.ItemsRatio, m.Bytes, c.Bytes,
			float64(m.RSSKB)/1024, float64(c.RSSKB)/1024, c.ZipfOps, m.HitRate, c.HitRate, f.HitRatio)
	}
}
