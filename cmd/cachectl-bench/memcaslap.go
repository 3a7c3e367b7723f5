package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// The unpipelined 90/10 mix for memcaslap: 32-byte keys, 100-byte values.
const memcaslapConfig = `key
32 32 1
value
100 100 1
cmd
0 0.1
1 0.9
`

// memcaslapTrial is one memcaslap run: a second opinion from a client
// that is not ours (it does not check values, so ours stays the judge).
type memcaslapTrial struct {
	Server   serverKind `json:"server"`
	Pair     int        `json:"pair"`
	TPS      float64    `json:"tps"`
	Ops      int64      `json:"ops"`
	CPUPerOp float64    `json:"server_cpu_us_per_op"`
}

type memcaslapResult struct {
	Trials          []memcaslapTrial `json:"trials"`
	ThroughputRatio float64          `json:"throughput_ratio"`
	CPUPerOpRatio   float64          `json:"cpu_per_op_ratio"`
	MemcachedTPS    float64          `json:"memcached_tps"`
	CachectlTPS     float64          `json:"cachectl_tps"`
}

// "Run time: 10.0s Ops: 1048502 TPS: 104761 Net_rate: 18.7M/s"
var memcaslapLine = regexp.MustCompile(`Run time: [\d.]+s Ops: (\d+) TPS: (\d+)`)

func runMemcaslap(ctx context.Context, cfg *compareConfig, path string, dur time.Duration) (*memcaslapResult, error) {
	dir, err := os.MkdirTemp("", "cachectl-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cf := filepath.Join(dir, "mix.cfg")
	if err := os.WriteFile(cf, []byte(memcaslapConfig), 0o644); err != nil {
		return nil, err
	}
	res := &memcaslapResult{}
	for pair := range cfg.Pairs {
		for _, kind := range order(pair) {
			t, err := memcaslapTrialRun(ctx, cfg, path, cf, kind, dur)
			if err != nil {
				return res, fmt.Errorf("memcaslap pair %d, %s: %w", pair+1, kind, err)
			}
			t.Pair = pair
			fmt.Fprintf(cfg.Progress, "  memcaslap pair %d %-9s %8.0f TPS  cpu %.2f us/op\n", pair+1, kind, t.TPS, t.CPUPerOp)
			res.Trials = append(res.Trials, *t)
		}
	}
	res.aggregate()
	return res, nil
}

func (res *memcaslapResult) aggregate() {
	thr, cpu := res.pairRatios()
	var a, b []float64
	for _, t := range res.Trials {
		if t.Server == memcached {
			a = append(a, t.TPS)
		} else {
			b = append(b, t.TPS)
		}
	}
	res.ThroughputRatio, res.CPUPerOpRatio = median(thr), median(cpu)
	res.MemcachedTPS, res.CachectlTPS = median(a), median(b)
}

// pairRatios is each pair's TPS and CPU per op, cachectl's over
// memcached's, in pair order.
func (res *memcaslapResult) pairRatios() (thr, cpu []float64) {
	for _, p := range pairUp(res.Trials, func(t *memcaslapTrial) (int, serverKind) { return t.Pair, t.Server }) {
		thr = append(thr, ratio(p[1].TPS, p[0].TPS))
		cpu = append(cpu, ratio(p[1].CPUPerOp, p[0].CPUPerOp))
	}
	return thr, cpu
}

func memcaslapTrialRun(ctx context.Context, cfg *compareConfig, path, cf string, kind serverKind, dur time.Duration) (*memcaslapTrial, error) {
	srv, err := startServer(cfg.spec(kind, 1024))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	secs := strconv.Itoa(max(1, int(dur.Seconds()))) + "s"
	cpu0, err := procCPU(srv.pid())
	if err != nil {
		return nil, err
	}
	// memcaslap bounds itself with -t; the context bounds it if it hangs.
	cctx, cancel := context.WithTimeout(ctx, dur+20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, path, "-s", srv.addr, "-F", cf, "-T", "2", "-c", "64", "-t", secs, "-S", secs).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", path, err, clipString(string(out)))
	}
	cpu1, err := procCPU(srv.pid())
	if err != nil {
		return nil, err
	}
	m := memcaslapLine.FindAllSubmatch(out, -1)
	if len(m) == 0 {
		return nil, fmt.Errorf("memcaslap printed no 'Run time: ... TPS:' line: %s", clipString(string(out)))
	}
	last := m[len(m)-1]
	ops, _ := strconv.ParseInt(string(last[1]), 10, 64)
	tps, _ := strconv.ParseFloat(string(last[2]), 64)
	t := &memcaslapTrial{Server: kind, TPS: tps, Ops: ops}
	if ops > 0 {
		t.CPUPerOp = float64(cpu1-cpu0) / clockTicks * 1e6 / float64(ops)
	}
	return t, nil
}
