package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The many-connections workload: thousands of mostly idle clients, each
// sending a get about once a second, beside a W1 load. What it judges is
// what an idle connection costs the server (RSS) and whether serving the
// crowd slows the busy clients down (W1's p99), at the same -c and -t.

// manyConnsTrial is one server's run of the workload.
type manyConnsTrial struct {
	Server serverKind `json:"server"`
	Pair   int        `json:"pair"`
	// RSS of the fresh server, after the preload, before the idle
	// clients connect, and at the end of the measured W1 run with all of
	// them connected. The fresh figure is the fixed cost (binary, runtime)
	// that the per-connection one leaves out.
	RSSFreshKB  int64       `json:"rss_fresh_kb"`
	RSSBeforeKB int64       `json:"rss_before_kb"`
	RSSKB       int64       `json:"rss_kb"`
	BytesPerCon float64     `json:"bytes_per_conn"`
	W1          *loadResult `json:"w1"`
	Idle        *loadResult `json:"idle"`
	CPUSec      float64     `json:"server_cpu_sec"`
}

// manyConnsResult is the workload's trials and median per-pair ratios.
type manyConnsResult struct {
	Conns     int              `json:"conns"`
	Trials    []manyConnsTrial `json:"trials"`
	RSSRatio  float64          `json:"rss_ratio"`
	P99Ratio  float64          `json:"w1_p99_ratio"`
	ThrRatio  float64          `json:"w1_throughput_ratio"`
	Memcached manyConnsSummary `json:"memcached"`
	Cachectl  manyConnsSummary `json:"cachectl"`
	Errors    int64            `json:"errors"`
}

type manyConnsSummary struct {
	RSSFreshKB  int64         `json:"rss_fresh_kb"`
	RSSKB       int64         `json:"rss_kb"`
	BytesPerCon float64       `json:"bytes_per_conn"`
	W1Ops       float64       `json:"w1_ops_per_sec"`
	W1P99       time.Duration `json:"w1_p99_ns"`
	IdleP99     time.Duration `json:"idle_p99_ns"`
}

// manyConnsHeadroom is how many descriptors beyond the idle clients both
// the servers' -c and the benchmark's own limit allow: W1's connections,
// the preload's and the stats probe.
const manyConnsHeadroom = 1024

// raiseNoFile lifts this process's descriptor limit, which the servers
// inherit, to at least n: each side holds one socket per idle client.
// Only the soft limit moves when the hard one allows n, since raising the
// hard limit takes CAP_SYS_RESOURCE, which containers often drop.
func raiseNoFile(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("reading RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= n {
		return nil
	}
	lim.Cur, lim.Max = n, max(lim.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE to %d (run as root, or raise ulimit -n): %w", n, err)
	}
	return nil
}

// runManyConns runs cfg.Pairs ABBA pairs of the workload with conns idle
// clients.
func runManyConns(ctx context.Context, cfg *compareConfig, conns int) (*manyConnsResult, error) {
	if err := raiseNoFile(uint64(conns + 2*manyConnsHeadroom)); err != nil {
		return nil, err
	}
	res := &manyConnsResult{Conns: conns}
	for pair := range cfg.Pairs {
		for _, kind := range order(pair) {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			t, err := manyConnsRun(ctx, cfg, kind, pair, conns)
			if err != nil {
				return res, fmt.Errorf("%d connections, pair %d, %s: %w", conns, pair+1, kind, err)
			}
			fmt.Fprintf(cfg.Progress, "  C%dk pair %d %-9s RSS %7d kB (fresh %6d kB, %5.0f B/conn)  W1 %8.0f ops/s p99 %-8s idle p99 %-8s errors %d\n",
				conns/1000, pair+1, kind, t.RSSKB, t.RSSFreshKB, t.BytesPerCon, t.W1.OpsPerSec, t.W1.P99.Round(time.Microsecond),
				t.Idle.P99.Round(time.Microsecond), t.W1.Errors+t.Idle.Errors)
			res.Trials = append(res.Trials, *t)
		}
	}
	res.aggregate()
	return res, nil
}

// manyConnsRun is one trial: preload W1's keys, connect the idle clients
// and wait until the server counts them, then measure W1 beside them.
func manyConnsRun(ctx context.Context, cfg *compareConfig, kind serverKind, pair, conns int) (*manyConnsTrial, error) {
	spec := cfg.spec(kind, 1024)
	spec.Extra = []string{"-c", strconv.Itoa(conns + manyConnsHeadroom)}
	srv, err := startServer(spec)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	t := &manyConnsTrial{Server: kind, Pair: pair}
	if t.RSSFreshKB, err = procRSS(srv.pid()); err != nil {
		return nil, err
	}
	w1 := workloads()[0].Load
	seed := cfg.Seed + uint64(pair)
	if _, err := preload(ctx, srv.addr, w1.Keys, 4, w1.MinSize, w1.MaxSize, seed, 5*time.Minute); err != nil {
		return nil, err
	}
	if t.RSSBeforeKB, err = procRSS(srv.pid()); err != nil {
		return nil, err
	}
	idle := w1
	idle.Addr, idle.Seed, idle.ValueSeed = srv.addr, seed+2<<32, seed
	idle.Conns, idle.GetRatio, idle.Rate = conns, 1, float64(conns) // one get a second each
	idle.ReadBuffer = 4 << 10
	// The idle clients outlast W1's warm-up and measurement; they stop
	// when W1 is done.
	idle.Duration, idle.MaxOps = cfg.Warmup+cfg.Measure+time.Minute, 0
	idleCtx, stopIdle := context.WithCancel(ctx)
	defer stopIdle()
	var idleRes *loadResult
	var idleErr error
	idleDone := make(chan struct{})
	go func() {
		defer close(idleDone)
		idleRes, idleErr = runLoad(idleCtx, idle)
	}()
	if err := waitConnections(ctx, srv.addr, conns, 2*time.Minute, idleDone); err != nil {
		stopIdle()
		<-idleDone
		return nil, errors.Join(err, idleErr)
	}
	w1.Addr, w1.Seed, w1.ValueSeed = srv.addr, seed, seed
	if cfg.Warmup > 0 {
		w1.Duration, w1.MaxOps = cfg.Warmup, cfg.MaxOps
		if _, err := runLoad(ctx, w1); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu0, err := procCPU(srv.pid())
	if err != nil {
		return nil, err
	}
	w1.Duration, w1.MaxOps, w1.Seed = cfg.Measure, cfg.MaxOps, seed+1<<32
	if t.W1, err = runLoad(ctx, w1); err != nil {
		return nil, err
	}
	cpu1, err := procCPU(srv.pid())
	if err != nil {
		return nil, err
	}
	t.CPUSec = float64(cpu1-cpu0) / clockTicks
	if t.RSSKB, err = procRSS(srv.pid()); err != nil {
		return nil, err
	}
	t.BytesPerCon = float64(t.RSSKB-t.RSSBeforeKB) * 1024 / float64(conns)
	stopIdle()
	<-idleDone
	if idleErr != nil {
		return nil, fmt.Errorf("idle clients: %w", idleErr)
	}
	t.Idle = idleRes
	return t, nil
}

// errIdleEnded says the idle clients stopped before all of them connected.
var errIdleEnded = errors.New("the idle clients stopped before connecting")

// waitConnections polls the server's curr_connections until at least n
// clients are connected, or fails when idleDone closes first.
func waitConnections(ctx context.Context, addr string, n int, limit time.Duration, idleDone <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	for {
		got, err := currConnections(addr)
		if err != nil {
			return fmt.Errorf("counting connections: %w", err)
		}
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d idle clients connected after %s", got, n, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-idleDone:
			return fmt.Errorf("%w (%d of %d)", errIdleEnded, got, n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// currConnections reads curr_connections from the server's stats.
func currConnections(addr string) (int, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, "stats\r\n"); err != nil {
		return 0, err
	}
	r := bufio.NewReader(nc)
	n := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("reading stats: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "END" {
			break
		}
		if v, ok := strings.CutPrefix(line, "STAT curr_connections "); ok {
			if n, err = strconv.Atoi(v); err != nil {
				return 0, fmt.Errorf("stats: curr_connections %q", v)
			}
		}
	}
	if n < 0 {
		return 0, errors.New("stats: no curr_connections")
	}
	return n, nil
}

func (res *manyConnsResult) aggregate() {
	res.Errors = 0
	for _, t := range res.Trials {
		res.Errors += t.W1.Errors + t.Idle.Errors
	}
	rss, p99, thr := res.pairRatios()
	res.RSSRatio, res.P99Ratio, res.ThrRatio = median(rss), median(p99), median(thr)
	res.Memcached = summarizeManyConns(res.Trials, memcached)
	res.Cachectl = summarizeManyConns(res.Trials, cachectl)
}

// pairRatios is each pair's RSS, W1 p99 and W1 throughput, cachectl's
// over memcached's, in pair order.
func (res *manyConnsResult) pairRatios() (rss, p99, thr []float64) {
	for _, p := range pairUp(res.Trials, func(t *manyConnsTrial) (int, serverKind) { return t.Pair, t.Server }) {
		a, b := p[0], p[1]
		rss = append(rss, ratio(float64(b.RSSKB), float64(a.RSSKB)))
		p99 = append(p99, ratio(float64(b.W1.P99), float64(a.W1.P99)))
		thr = append(thr, ratio(b.W1.OpsPerSec, a.W1.OpsPerSec))
	}
	return rss, p99, thr
}

func summarizeManyConns(ts []manyConnsTrial, kind serverKind) manyConnsSummary {
	var fresh, rss, per, ops, p99, idle []float64
	for _, t := range ts {
		if t.Server != kind {
			continue
		}
		fresh = append(fresh, float64(t.RSSFreshKB))
		rss = append(rss, float64(t.RSSKB))
		per = append(per, t.BytesPerCon)
		ops = append(ops, t.W1.OpsPerSec)
		p99 = append(p99, float64(t.W1.P99))
		idle = append(idle, float64(t.Idle.P99))
	}
	return manyConnsSummary{RSSFreshKB: int64(median(fresh)), RSSKB: int64(median(rss)), BytesPerCon: median(per), W1Ops: median(ops),
		W1P99: time.Duration(median(p99)), IdleP99: time.Duration(median(idle))}
}

func (res *manyConnsResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "\n%d connections each sending a get about once a second, beside W1 (-c %d for both):\n\n",
		res.Conns, res.Conns+manyConnsHeadroom)
	fmt.Fprintf(w, "| connections | RSS mc/ours (kB) | RSS ratio | fresh RSS mc/ours (kB) | bytes/conn mc/ours | W1 ops/s mc/ours | W1 thr ratio | W1 p99 mc/ours (us) | W1 p99 ratio | idle p99 mc/ours (us) | errors |\n")
	fmt.Fprintf(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	m, c := res.Memcached, res.Cachectl
	fmt.Fprintf(w, "| %d | %d / %d | **%.2f** | %d / %d | %.0f / %.0f | %.0f / %.0f | %.2f | %s / %s | **%.2f** | %s / %s | %d |\n",
		res.Conns, m.RSSKB, c.RSSKB, res.RSSRatio, m.RSSFreshKB, c.RSSFreshKB, m.BytesPerCon, c.BytesPerCon, m.W1Ops, c.W1Ops, res.ThrRatio,
		us(m.W1P99), us(c.W1P99), res.P99Ratio, us(m.IdleP99), us(c.IdleP99), res.Errors)
}
