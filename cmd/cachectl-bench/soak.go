package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

type soakOpts struct {
	cachectl   string
	duration   time.Duration
	quick      bool
	memoryMB   int
	maxConns   int
	threads    int
	abusers    int
	interval   time.Duration
	overheadMB int
	seed       uint64
	json       string
}

func newSoakCmd() *cobra.Command {
	o := &soakOpts{}
	cmd := &cobra.Command{
		Use:   "soak --cachectl bin/cachectl [flags]",
		Short: "Run cachectl's daemon under checked load and abusive clients, then judge its health",
		Long: `Start "cachectl serve" on a free loopback port and, for --duration, run at once:
checking clients (text get/set, pipelined multi-gets, TTL churn, binary
set/get/getkq/incr, meta ms/mg/mn with incr) whose every reply is verified;
abusive clients (garbage, over-long lines, huge declared lengths, partial
lines and values, slow and idle clients, bogus binary headers, connection
floods past -c); and a sampler of the daemon's RSS, goroutines, connections
and heap.

It passes when no well-formed request got a wrong reply, goroutines return to
the baseline once the abusive clients are gone, RSS at the end is within -m
plus --overhead-mb and its floor does not grow over the run's last half, and
the daemon still answers version. Otherwise it exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&o.cachectl, "cachectl", "bin/cachectl", "path of the cachectl binary (make build)")
	f.DurationVar(&o.duration, "duration", 5*time.Minute, "how long the abuse and the checked load run")
	f.BoolVar(&o.quick, "quick", false, "a ~60 s run (overrides --duration)")
	f.IntVar(&o.memoryMB, "memory-mb", 64, "-m for the daemon")
	f.IntVar(&o.maxConns, "max-conns", 4096, "-c for the daemon; floods open 64 more")
	f.IntVar(&o.threads, "threads", 4, "-t for the daemon")
	f.IntVar(&o.abusers, "abusers", 8, "concurrent abusive clients")
	f.DurationVar(&o.interval, "interval", 0, "sampling interval (0 = duration/60, 1-5 s)")
	f.IntVar(&o.overheadMB, "overhead-mb", defaultOverheadMB, "RSS allowed above -m at the end")
	f.Uint64Var(&o.seed, "seed", 1, "seed for keys, values and abuse")
	f.StringVar(&o.json, "json", "", "also write the samples and verdict as JSON to this file (- = stdout)")
	return cmd
}

// defaultOverheadMB is RSS the daemon may hold beyond -m at the end of a
// soak: the Go runtime and binary, the store's hash index and item
// headers, the connections' buffers and the GC's headroom. Measured at
// -m 64 -c 4096 (SOAK.md): 14.4 MB at the end of a 5 min run, 31.7 MB at
// the peak, right after a flood of 4096 connections and before the GC
// had collected their buffers; 32 MB leaves the steady state double room.
const defaultOverheadMB = 32

func (o *soakOpts) validate() error {
	if o.quick {
		o.duration = 60 * time.Second
	}
	switch {
	case o.duration < 20*time.Second || o.duration > 24*time.Hour:
		return fmt.Errorf("--duration %s: want 20s..24h", o.duration)
	case o.memoryMB < 8 || o.memoryMB > 4096:
		return fmt.Errorf("--memory-mb %d: want 8..4096", o.memoryMB)
	case o.maxConns < 64 || o.maxConns > 8192:
		return fmt.Errorf("--max-conns %d: want 64..8192 (the flood opens -c + 64 sockets here)", o.maxConns)
	case o.abusers < 0 || o.abusers > 256:
		return fmt.Errorf("--abusers %d: want 0..256", o.abusers)
	case o.threads < 1 || o.threads > 64:
		return fmt.Errorf("--threads %d: want 1..64", o.threads)
	}
	if o.interval <= 0 {
		o.interval = min(max(o.duration/60, time.Second), 5*time.Second)
	}
	return nil
}

// soakReport is everything a soak run measured.
type soakReport struct {
	MaxConns int               `json:"max_conns"`
	Limits   soakLimits        `json:"limits"`
	Outcome  soakOutcome       `json:"outcome"`
	Clients  []soakClientCount `json:"clients"`
	Abuse    []soakAbuseCount  `json:"abuse"`
	GC       string            `json:"gc"`
	Checks   []soakCheck       `json:"checks"`
}

type soakClientCount struct {
	Name     string `json:"name"`
	Requests int64  `json:"requests"`
	Wrong    int64  `json:"wrong"`
}

type soakAbuseCount struct {
	Name  string `json:"name"`
	Conns int64  `json:"conns"`
}

func (o *soakOpts) run(cmd *cobra.Command) error {
	if err := o.validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	w := cmd.OutOrStdout()
	udp, err := freeUDPPort()
	if err != nil {
		return err
	}
	srv, err := startServer(serverSpec{Kind: cachectl, Cachectl: o.cachectl, MemoryMB: o.memoryMB, Threads: o.threads,
		Extra: []string{"-c", strconv.Itoa(o.maxConns), "-U", strconv.Itoa(udp)}})
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Fprintf(w, "soak: cachectl pid %d on %s (-m %d -c %d -U %d), %s, sampling every %s\n",
		srv.pid(), srv.addr, o.memoryMB, o.maxConns, udp, o.duration, o.interval)
	rep, err := o.soak(ctx, w, srv, udp)
	if err != nil {
		return err
	}
	writeSoakSummary(w, rep)
	if o.json != "" {
		if err := writeJSON(w, o.json, rep); err != nil {
			return err
		}
	}
	if !soakPassed(rep.Checks) {
		return errors.New("soak failed; see the checks above")
	}
	return nil
}

// soak runs the phases: checked clients, baseline, abuse with floods,
// drain, end sample, then the checked clients stop and version is probed.
func (o *soakOpts) soak(ctx context.Context, w io.Writer, srv *server, udp int) (*soakReport, error) {
	start := time.Now()
	probe, err := dialStats(srv.addr)
	if err != nil {
		return nil, err
	}
	defer probe.close()
	sample := func() (soakSample, error) {
		s, err := probe.sample(srv.pid())
		s.At = time.Since(start)
		return s, err
	}

	goodCtx, stopGood := context.WithCancel(ctx)
	defer stopGood()
	good, err := startCheckedClients(goodCtx, srv.addr, o.seed, o.duration+5*time.Minute)
	if err != nil {
		return nil, err
	}
	sleepOrStop(ctx.Done(), 3*time.Second)
	base, err := sample()
	if err != nil {
		return nil, fmt.Errorf("baseline sample: %w", err)
	}
	out := soakOutcome{Baseline: base, Duration: o.duration, Samples: []soakSample{base}}
	fmt.Fprintf(w, "baseline: RSS %.1f MB, %d goroutines, %d connections\n", mb(base.RSSKB), base.Goroutines, base.Conns)

	abuseCtx, stopAbuse := context.WithDeadline(ctx, start.Add(o.duration))
	defer stopAbuse()
	var tally abuseTally
	var floods []floodResult
	var floodSamples []soakSample
	var wg sync.WaitGroup
	wg.Go(func() { runAbusers(abuseCtx, srv.addr, o.abusers, o.seed, &tally) })
	wg.Go(func() { udpGarbage(abuseCtx, udp, o.seed, &tally) })
	// Floods run in the first half only, so the second half's RSS trend
	// measures steady-state abuse, not the runtime returning flood memory.
	wg.Go(func() {
		for _, at := range []time.Duration{o.duration / 5, 2 * o.duration / 5} {
			if !sleepOrStop(abuseCtx.Done(), time.Until(start.Add(at))) {
				return
			}
			r := flood(abuseCtx, srv.addr, o.maxConns+64, 2*time.Second, func() {
				// The sampler's connection: a new one would be refused now.
				if s, err := sample(); err == nil {
					floodSamples = append(floodSamples, s)
				}
			})
			floods = append(floods, r)
			fmt.Fprintf(w, "flood at %s: %d connections opened, %d told ERROR Too many open connections\n",
				time.Since(start).Round(time.Second), r.Opened, r.Rejected)
		}
	})
	out.Samples = append(out.Samples, o.sampleUntil(abuseCtx, w, sample)...)
	wg.Wait()
	out.Samples = append(out.Samples, floodSamples...)
	slices.SortFunc(out.Samples, func(a, b soakSample) int { return cmp.Compare(a.At, b.At) })

	limits := soakLimits{MemoryMB: o.memoryMB, OverheadMB: o.overheadMB, GoroutineSlack: 8, TrendKB: 4 << 10, MinTrendSamples: 6}
	end, extra := o.drain(ctx, base, limits.GoroutineSlack, sample)
	out.Samples = append(out.Samples, extra...)
	out.End = end
	stopGood()
	counts := good.wait()
	for _, c := range counts {
		out.WrongReplies += c.Wrong
	}
	out.FirstWrong = good.firstWrong()
	out.VersionErr = probeVersion(srv.addr)
	select {
	case <-srv.done:
		out.DaemonExitedAt = fmt.Sprintf("exited before the end; output: %s", clipString(srv.stderr.String()))
	default:
	}
	for _, f := range floods {
		out.FloodsRun++
		out.FloodRejects += int64(f.Rejected)
	}
	rep := &soakReport{MaxConns: o.maxConns, Outcome: out, Clients: counts, Limits: limits}
	for i, k := range abuseKinds {
		rep.Abuse = append(rep.Abuse, soakAbuseCount{Name: k.name, Conns: tally.conns[i].Load()})
	}
	var opened int64
	for _, f := range floods {
		opened += int64(f.Opened)
	}
	rep.Abuse = append(rep.Abuse, soakAbuseCount{Name: "flood connections (up to -c + 64)", Conns: opened},
		soakAbuseCount{Name: "UDP garbage datagrams", Conns: tally.udp.Load()})
	if st, err := probe.stats(); err == nil {
		rep.GC = fmt.Sprintf("GC: %s cycles, pauses %s us total, %s us max (recent); evictions %s, total_connections %s, rejected_connections %s, connection_panics %s",
			st["go_gc_cycles"], st["go_gc_pause_total_us"], st["go_gc_pause_max_us"], st["evictions"],
			st["total_connections"], st["rejected_connections"], st["connection_panics"])
	}
	rep.Checks = judgeSoak(rep.Outcome, rep.Limits)
	return rep, nil
}

// sampleUntil samples every interval until ctx ends, printing a line each.
func (o *soakOpts) sampleUntil(ctx context.Context, w io.Writer, sample func() (soakSample, error)) []soakSample {
	var out []soakSample
	for sleepOrStop(ctx.Done(), o.interval) {
		s, err := sample()
		if err != nil {
			fmt.Fprintf(w, "sample at %s: %v\n", s.At.Round(time.Second), err)
			continue
		}
		out = append(out, s)
		fmt.Fprintf(w, "%6s  RSS %6.1f MB  goroutines %5d  conns %5d  heap %6.1f MB\n",
			s.At.Round(time.Second), mb(s.RSSKB), s.Goroutines, s.Conns, mb(s.HeapBytes>>10))
	}
	return out
}

// drain waits (at most 30 s) for the abusive connections to be gone and
// the goroutines to settle back near the baseline, sampling as it goes.
func (o *soakOpts) drain(ctx context.Context, base soakSample, slack int64, sample func() (soakSample, error)) (soakSample, []soakSample) {
	var last soakSample
	var all []soakSample
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && sleepOrStop(ctx.Done(), time.Second) {
		s, err := sample()
		if err != nil {
			continue
		}
		last = s
		all = append(all, s)
		if s.Conns <= base.Conns && s.Goroutines <= base.Goroutines+slack {
			break
		}
	}
	return last, all
}

// statsConn is the sampler's own connection, opened before any flood so
// that a flood never locks the sampler out.
type statsConn struct {
	mu sync.Mutex // the sampler and a flood's peak sample share it
	nc net.Conn
	r  *bufio.Reader
}

func dialStats(addr string) (*statsConn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("sampler connection: %w", err)
	}
	return &statsConn{nc: nc, r: bufio.NewReader(nc)}, nil
}

func (s *statsConn) close() { s.nc.Close() }

// stats reads plain `stats` (memcached's keys) and `stats cachectl` (the
// Go runtime's figures and connection_panics) into one map: the sampler
// needs both, and plain `stats` carries memcached's keys only.
func (s *statsConn) stats() (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]string{}
	for _, cmd := range []string{"stats", "stats cachectl"} {
		if err := s.group(cmd, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// group sends one stats command and adds its STAT lines to m.
func (s *statsConn) group(cmd string, m map[string]string) error {
	s.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(s.nc, cmd+"\r\n"); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	for range 500 {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "END" {
			return nil
		}
		f := strings.SplitN(line, " ", 3) // values may hold spaces (libevent)
		if len(f) != 3 || f[0] != "STAT" {
			return fmt.Errorf("%s: unexpected line %q", cmd, line)
		}
		m[f[1]] = f[2]
	}
	return fmt.Errorf("%s: no END after 500 lines", cmd)
}

func (s *statsConn) sample(pid int) (soakSample, error) {
	var out soakSample
	rss, err := procRSS(pid)
	if err != nil {
		return out, err
	}
	st, err := s.stats()
	if err != nil {
		return out, err
	}
	out.RSSKB = rss
	num := func(k string) int64 {
		v, perr := strconv.ParseInt(st[k], 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("stats %s: %q is not a number", k, st[k])
		}
		return v
	}
	out.Goroutines, out.Conns, out.HeapBytes = num("go_goroutines"), num("curr_connections"), num("go_heap_bytes")
	return out, err
}

// probeVersion asks a fresh connection for version: the daemon must
// still accept and answer after all the abuse.
func probeVersion(addr string) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, "version\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return fmt.Errorf("version answered %q", line)
	}
	return nil
}

func freeUDPPort() (int, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback UDP port: %w", err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port, nil
}
