package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// compareConfig is one side-by-side comparison.
type compareConfig struct {
	Memcached string
	Cachectl  string
	Threads   int
	Pairs     int
	Warmup    time.Duration
	Measure   time.Duration
	MaxOps    int64
	Seed      uint64
	// LatencyLoad re-runs each workload paced at this fraction of
	// memcached's measured throughput, so tail latencies are compared at
	// the same offered load (0 = skip). Unpaced, the faster server just
	// lets the client push the shared CPUs harder.
	LatencyLoad float64
	// LatencyPairs is how many pairs the paced runs take (0 = Pairs):
	// a trial's p99 on a shared box is a few CPU stalls, so the paced
	// ratio needs more pairs than throughput does to settle.
	LatencyPairs int
	// Turn is one turn of a pair's measurement: the two servers take
	// turns of this length until each has run Measure.
	Turn     time.Duration
	Progress io.Writer
}

// trial is one measured run of one server.
type trial struct {
	Server    serverKind  `json:"server"`
	Pair      int         `json:"pair"`
	Result    *loadResult `json:"result"`
	CPUSec    float64     `json:"server_cpu_sec"`
	CPUPerOp  float64     `json:"server_cpu_us_per_op"` // per key for multi-get workloads
	RSSKB     int64       `json:"rss_kb"`
	Preload   float64     `json:"preload_sets_per_sec,omitempty"`
	Throughpt float64     `json:"throughput"` // ops/s, or keys/s for multi-get workloads
}

// workloadResult is a workload's trials and the medians over them.
type workloadResult struct {
	ID     string  `json:"id"`
	Desc   string  `json:"desc"`
	Unit   string  `json:"unit"`
	Trials []trial `json:"trials"`
	// Medians of each server's values.
	Memcached summary `json:"memcached"`
	Cachectl  summary `json:"cachectl"`
	// Medians of per-pair ratios cachectl/memcached.
	ThroughputRatio float64 `json:"throughput_ratio"`
	P99Ratio        float64 `json:"p99_ratio"`
	P999Ratio       float64 `json:"p999_ratio"`
	CPUPerOpRatio   float64 `json:"cpu_per_op_ratio"`
	Errors          int64   `json:"errors"`
	FirstError      string  `json:"first_error,omitempty"`
	Paced           *paced  `json:"paced,omitempty"`
}

// paced is a workload re-run at the same fixed rate on both servers.
type paced struct {
	Rate      float64 `json:"rate"` // commands/s offered
	Trials    []trial `json:"trials"`
	Memcached summary `json:"memcached"`
	Cachectl  summary `json:"cachectl"`
	P50Ratio  float64 `json:"p50_ratio"`
	P99Ratio  float64 `json:"p99_ratio"`
	P999Ratio float64 `json:"p999_ratio"`
	CPURatio  float64 `json:"cpu_per_op_ratio"`
}

type summary struct {
	Throughput float64       `json:"throughput"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	P999       time.Duration `json:"p999_ns"`
	CPUPerOp   float64       `json:"cpu_us_per_op"`
	HitRate    float64       `json:"hit_rate"`
	RSSKB      int64         `json:"rss_kb"`
}

func (c *compareConfig) spec(kind serverKind, mem int) serverSpec {
	return serverSpec{Kind: kind, Memcached: c.Memcached, Cachectl: c.Cachectl, MemoryMB: mem, Threads: c.Threads}
}

// order alternates ABBA: pair 0 runs memcached first, pair 1 cachectl
// first, and so on, so a drift in machine load hits both alike.
func order(pair int) []serverKind {
	if pair%2 == 0 {
		return []serverKind{memcached, cachectl}
	}
	return []serverKind{cachectl, memcached}
}

// runWorkload runs cfg.Pairs alternating pairs of one workload.
func runWorkload(ctx context.Context, cfg *compareConfig, w workload) (*workloadResult, error) {
	res := &workloadResult{ID: w.ID, Desc: w.Desc, Unit: "ops/s"}
	if w.PerKey {
		res.Unit = "keys/s"
	}
	var err error
	if res.Trials, err = runPairs(ctx, cfg, w, res.Unit, 0, cfg.Pairs); err != nil {
		return res, err
	}
	res.aggregate()
	if cfg.LatencyLoad <= 0 {
		return res, nil
	}
	var mc []float64
	for _, t := range res.Trials {
		if t.Server == memcached && t.Result != nil {
			mc = append(mc, t.Result.OpsPerSec)
		}
	}
	p := &paced{Rate: cfg.LatencyLoad * median(mc)}
	fmt.Fprintf(cfg.Progress, "  %s paced at %.0f commands/s (%.0f%% of memcached's)\n", w.ID, p.Rate, 100*cfg.LatencyLoad)
	if p.Trials, err = runPairs(ctx, cfg, w, res.Unit, p.Rate, cmp.Or(cfg.LatencyPairs, cfg.Pairs)); err != nil {
		return res, err
	}
	res.Paced = p
	res.aggregate()
	return res, nil
}

// runPairs runs alternating pairs, paced at rate when it is not 0.
func runPairs(ctx context.Context, cfg *compareConfig, w workload, unit string, rate float64, pairs int) ([]trial, error) {
	var trials []trial
	for pair := range pairs {
		ts, err := runPair(ctx, cfg, w, pair, rate)
		if err != nil {
			return trials, fmt.Errorf("%s pair %d: %w", w.ID, pair+1, err)
		}
		for _, t := range ts {
			fmt.Fprintf(cfg.Progress, "  %s pair %d %-9s %10.0f %s  p50 %-8s p99 %-8s cpu %.2f us/op  hit %.3f  errors %d%s\n",
				w.ID, pair+1, t.Server, t.Throughpt, unit, t.Result.P50.Round(time.Microsecond), t.Result.P99.Round(time.Microsecond), t.CPUPerOp, t.Result.HitRate, t.Result.Errors, t.Result.refusedNote())
		}
		trials = append(trials, ts...)
	}
	return trials, nil
}

// pairSide is one server of a pair and what it has measured so far.
type pairSide struct {
	srv  *server
	t    trial
	lc   loadConfig
	cpu0 int64
	acc  *loadResult
}

// runPair measures one pair: a fresh memcached and a fresh cachectl, both
// preloaded and warmed up, then measured in turns of cfg.Turn, ABBA, until
// each has had cfg.Measure. This box's spare CPU comes and goes over
// seconds (steal time and the client's own scheduling): back-to-back 8 s
// trials of the same memcached binary gave paced W7 p99s of 149, 56 and
// 6 ms. Turns a second long put both servers under the same weather, so
// a pair's ratio measures the servers, not which one drew the bad seconds.
func runPair(ctx context.Context, cfg *compareConfig, w workload, pair int, rate float64) ([]trial, error) {
	var sides []*pairSide
	defer func() {
		for _, sd := range sides {
			sd.srv.stop()
		}
	}()
	// The same seed for both servers of a pair: identical key sequences.
	seed := cfg.Seed + uint64(pair)
	for _, kind := range order(pair) {
		srv, err := startServer(cfg.spec(kind, w.MemoryMB))
		if err != nil {
			return nil, err
		}
		sd := &pairSide{srv: srv, t: trial{Server: kind, Pair: pair}, lc: w.Load, acc: &loadResult{lat: &hist{}}}
		sides = append(sides, sd)
		if w.Preload > 0 {
			p, err := preload(ctx, srv.addr, w.Preload, 4, w.Load.MinSize, w.Load.MaxSize, seed, 5*time.Minute)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", kind, err)
			}
			sd.t.Preload = p.SetsPerSec
		}
		sd.lc.Addr, sd.lc.Seed, sd.lc.ValueSeed, sd.lc.Rate = srv.addr, seed, seed, rate
		// One counter for the server's warm-up and turns, so that
		// every turn inserts keys no turn before it stored.
		sd.lc.startInserting()
	}
	for _, sd := range sides {
		if cfg.Warmup <= 0 {
			break
		}
		lc := sd.lc
		lc.Duration, lc.MaxOps = cfg.Warmup, cfg.MaxOps
		r, err := runLoad(ctx, lc)
		if err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", sd.t.Server, err)
		}
		if r.Errors > 0 { // a wrong reply: report it, measure nothing
			return failedPair(sd, r), nil
		}
	}
	turns := max(1, int(cfg.Measure/cfg.Turn))
	for _, sd := range sides {
		var err error
		if sd.cpu0, err = procCPU(sd.srv.pid()); err != nil {
			return nil, err
		}
	}
	for turn := range turns {
		for _, i := range turnOrder(turn) {
			sd := sides[i]
			lc := sd.lc
			lc.Duration, lc.MaxOps = cfg.Measure/time.Duration(turns), cfg.MaxOps/int64(turns)
			lc.Seed = seed + 1<<32 + uint64(turn)
			r, err := runLoad(ctx, lc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sd.t.Server, err)
			}
			sd.acc.absorb(r)
			if r.Errors > 0 {
				return failedPair(sd, sd.acc), nil
			}
		}
	}
	var out []trial
	for _, sd := range sides {
		cpu1, err := procCPU(sd.srv.pid())
		if err != nil {
			return nil, err
		}
		t := sd.t
		r := sd.acc
		t.Result = r
		t.CPUSec = float64(cpu1-sd.cpu0) / clockTicks
		t.Throughpt = r.OpsPerSec
		units := float64(r.Ops)
		if w.PerKey {
			t.Throughpt, units = r.KeysPerSec, float64(r.Keys)
		}
		if units > 0 {
			t.CPUPerOp = t.CPUSec * 1e6 / units
		}
		if t.RSSKB, err = procRSS(sd.srv.pid()); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// turnOrder is the sides' order in one turn: 0 1, 1 0, 0 1, ... so
// neither always follows the other.
func turnOrder(turn int) []int {
	if turn%2 == 0 {
		return []int{0, 1}
	}
	return []int{1, 0}
}

// failedPair reports the side whose replies were wrong, and nothing else.
func failedPair(bad *pairSide, r *loadResult) []trial {
	t := bad.t
	t.Result = r
	return []trial{t}
}

func (res *workloadResult) aggregate() {
	res.Errors, res.FirstError = 0, ""
	trials := res.Trials
	if res.Paced != nil {
		trials = append(slices.Clone(trials), res.Paced.Trials...)
	}
	for _, t := range trials {
		if t.Result != nil {
			res.Errors += t.Result.Errors
			if res.FirstError == "" && t.Result.FirstError != "" {
				res.FirstError = fmt.Sprintf("%s: %s", t.Server, t.Result.FirstError)
			}
		}
	}
	r := pairRatios(res.Trials)
	res.ThroughputRatio, res.P99Ratio, res.P999Ratio, res.CPUPerOpRatio = r.thr, r.p99, r.p999, r.cpu
	res.Memcached = summarize1(res.Trials, memcached)
	res.Cachectl = summarize1(res.Trials, cachectl)
	if p := res.Paced; p != nil {
		r := pairRatios(p.Trials)
		p.P50Ratio, p.P99Ratio, p.P999Ratio, p.CPURatio = r.p50, r.p99, r.p999, r.cpu
		p.Memcached = summarize1(p.Trials, memcached)
		p.Cachectl = summarize1(p.Trials, cachectl)
	}
}

type ratios struct{ thr, p50, p99, p999, cpu float64 }

// pairRatios is the median over pairs of cachectl/memcached.
func pairRatios(trials []trial) ratios {
	s := pairRatioSets(trials)
	return ratios{median(s.thr), median(s.p50), median(s.p99), median(s.p999), median(s.cpu)}
}

// ratioSets holds each pair's ratios cachectl/memcached, in pair order.
type ratioSets struct{ thr, p50, p99, p999, cpu []float64 }

func pairRatioSets(trials []trial) ratioSets {
	var s ratioSets
	for _, p := range pairUp(trials, func(t *trial) (int, serverKind) { return t.Pair, t.Server }) {
		a, b := p[0], p[1]
		if a.Result == nil || b.Result == nil {
			continue
		}
		s.thr = append(s.thr, ratio(b.Throughpt, a.Throughpt))
		s.p50 = append(s.p50, ratio(float64(b.Result.P50), float64(a.Result.P50)))
		s.p99 = append(s.p99, ratio(float64(b.Result.P99), float64(a.Result.P99)))
		s.p999 = append(s.p999, ratio(float64(b.Result.P999), float64(a.Result.P999)))
		s.cpu = append(s.cpu, ratio(b.CPUPerOp, a.CPUPerOp))
	}
	return s
}

// pairUp matches each pair's memcached trial with its cachectl trial, in
// pair order; a pair missing either side is left out.
func pairUp[T any](ts []T, key func(*T) (int, serverKind)) [][2]*T {
	byPair := map[int]*[2]*T{}
	for i := range ts {
		pair, kind := key(&ts[i])
		p := byPair[pair]
		if p == nil {
			p = new([2]*T)
			byPair[pair] = p
		}
		if kind == memcached {
			p[0] = &ts[i]
		} else {
			p[1] = &ts[i]
		}
	}
	var out [][2]*T
	for _, pair := range slices.Sorted(maps.Keys(byPair)) {
		if p := byPair[pair]; p[0] != nil && p[1] != nil {
			out = append(out, *p)
		}
	}
	return out
}

func summarize1(ts []trial, kind serverKind) summary {
	var thr, p50, p99, p999, cpu, hit, rss []float64
	for _, t := range ts {
		if t.Server != kind || t.Result == nil {
			continue
		}
		thr = append(thr, t.Throughpt)
		p50 = append(p50, float64(t.Result.P50))
		p99 = append(p99, float64(t.Result.P99))
		p999 = append(p999, float64(t.Result.P999))
		cpu = append(cpu, t.CPUPerOp)
		hit = append(hit, t.Result.HitRate)
		rss = append(rss, float64(t.RSSKB))
	}
	return summary{Throughput: median(thr), P50: time.Duration(median(p50)), P99: time.Duration(median(p99)),
		P999: time.Duration(median(p999)), CPUPerOp: median(cpu), HitRate: median(hit), RSSKB: int64(median(rss))}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
