package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// One run's medians move with the hour it ran in: on a shared 2 vCPU box
// a paced p99 ratio of 8 pairs has landed anywhere from 0.67 to 1.23 for
// the same two binaries. pool puts the per-pair ratios of several
// compare runs together and says how far their median can be trusted,
// with a bootstrap interval, so a row near 1 is read as "inside the
// noise" rather than as a win or a loss.

// bootstrapResamples is how many resamples an interval is drawn from.
const bootstrapResamples = 2000

// pooled is the per-pair ratios of one measure, cachectl/memcached, over
// every run given, with the median and its 95% bootstrap interval.
type pooled struct {
	N      int       `json:"pairs"`
	Median float64   `json:"median"`
	Low    float64   `json:"low"`
	High   float64   `json:"high"`
	Values []float64 `json:"values"`
}

func newPooled(v []float64) *pooled {
	if len(v) == 0 {
		return nil
	}
	lo, hi := medianInterval(v)
	return &pooled{N: len(v), Median: median(v), Low: lo, High: hi, Values: v}
}

// medianInterval is the 95% percentile-bootstrap interval of v's median:
// the 2.5th and 97.5th percentiles of the medians of resamples of v
// drawn with replacement. The seed is fixed, so the same runs always
// print the same interval.
func medianInterval(v []float64) (lo, hi float64) {
	rng := rand.New(rand.NewPCG(1, uint64(len(v))))
	meds := make([]float64, bootstrapResamples)
	sample := make([]float64, len(v))
	for i := range meds {
		for j := range sample {
			sample[j] = v[rng.IntN(len(v))]
		}
		meds[i] = median(sample)
	}
	slices.Sort(meds)
	return meds[bootstrapResamples*25/1000], meds[bootstrapResamples*975/1000-1]
}

// pooledWorkload is one workload's ratios over every run that ran it.
type pooledWorkload struct {
	ID   string `json:"id"`
	Desc string `json:"desc"`
	Runs int    `json:"runs"`
	// Unpaced.
	Throughput *pooled `json:"throughput,omitempty"`
	P99        *pooled `json:"p99,omitempty"`
	CPUPerOp   *pooled `json:"cpu_per_op,omitempty"`
	// Both servers paced at the same rate.
	PacedP50 *pooled `json:"paced_p50,omitempty"`
	PacedP99 *pooled `json:"paced_p99,omitempty"`
	PacedCPU *pooled `json:"paced_cpu_per_op,omitempty"`
}

type pooledReport struct {
	Files     []string          `json:"files"`
	Workloads []*pooledWorkload `json:"workloads"`
	// The many-connections run: RSS, and W1's p99 and throughput beside
	// the idle clients.
	ManyConnsRSS *pooled `json:"many_conns_rss,omitempty"`
	ManyConnsP99 *pooled `json:"many_conns_w1_p99,omitempty"`
	ManyConnsThr *pooled `json:"many_conns_w1_throughput,omitempty"`
	// memcaslap's second opinion.
	MemcaslapThr *pooled `json:"memcaslap_throughput,omitempty"`
	MemcaslapCPU *pooled `json:"memcaslap_cpu_per_op,omitempty"`
}

// poolReports pools the per-pair ratios of runs, workloads in the order
// they first appear.
func poolReports(files []string, runs []*report) *pooledReport {
	out := &pooledReport{Files: files}
	var order []string
	type sets struct {
		desc                          string
		runs                          int
		thr, p99, cpu, pp50, pp99, pc []float64
	}
	by := map[string]*sets{}
	var mcRSS, mcP99, mcThr, slapThr, slapCPU []float64
	for _, r := range runs {
		for _, w := range r.Workloads {
			s := by[w.ID]
			if s == nil {
				s = &sets{desc: w.Desc}
				by[w.ID] = s
				order = append(order, w.ID)
			}
			s.runs++
			u := pairRatioSets(w.Trials)
			s.thr, s.p99, s.cpu = append(s.thr, u.thr...), append(s.p99, u.p99...), append(s.cpu, u.cpu...)
			if w.Paced != nil {
				p := pairRatioSets(w.Paced.Trials)
				s.pp50, s.pp99, s.pc = append(s.pp50, p.p50...), append(s.pp99, p.p99...), append(s.pc, p.cpu...)
			}
		}
		if m := r.ManyConns; m != nil {
			rss, p99, thr := m.pairRatios()
			mcRSS, mcP99, mcThr = append(mcRSS, rss...), append(mcP99, p99...), append(mcThr, thr...)
		}
		if m := r.Memcaslap; m != nil {
			thr, cpu := m.pairRatios()
			slapThr, slapCPU = append(slapThr, thr...), append(slapCPU, cpu...)
		}
	}
	for _, id := range order {
		s := by[id]
		out.Workloads = append(out.Workloads, &pooledWorkload{ID: id, Desc: s.desc, Runs: s.runs,
			Throughput: newPooled(s.thr), P99: newPooled(s.p99), CPUPerOp: newPooled(s.cpu),
			PacedP50: newPooled(s.pp50), PacedP99: newPooled(s.pp99), PacedCPU: newPooled(s.pc)})
	}
	out.ManyConnsRSS, out.ManyConnsP99, out.ManyConnsThr = newPooled(mcRSS), newPooled(mcP99), newPooled(mcThr)
	out.MemcaslapThr, out.MemcaslapCPU = newPooled(slapThr), newPooled(slapCPU)
	return out
}

// cell prints a pooled ratio as "median [low, high]", or "–" when no run
// measured it.
func (p *pooled) cell() string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f [%.2f, %.2f]", p.Median, p.Low, p.High)
}

func (p *pooled) pairs() int {
	if p == nil {
		return 0
	}
	return p.N
}

func (r *pooledReport) writeText(w io.Writer, values bool) {
	fmt.Fprintf(w, "# per-pair ratios cachectl/memcached pooled over %d run(s): %s\n", len(r.Files), strings.Join(r.Files, ", "))
	fmt.Fprintf(w, "median [95%% bootstrap interval of the median]; throughput over 1, p99 and CPU per op under 1 favour cachectl\n\n")
	fmt.Fprintf(w, "| workload | runs | pairs | throughput | p99 | CPU/op | paced pairs | p50 at equal load | p99 at equal load | CPU/op at equal load |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Workloads {
		fmt.Fprintf(w, "| %s %s | %d | %d | %s | %s | %s | %d | %s | %s | %s |\n", x.ID, x.Desc, x.Runs,
			x.Throughput.pairs(), x.Throughput.cell(), x.P99.cell(), x.CPUPerOp.cell(),
			x.PacedP99.pairs(), x.PacedP50.cell(), x.PacedP99.cell(), x.PacedCPU.cell())
	}
	if r.ManyConnsRSS != nil {
		fmt.Fprintf(w, "\nmany connections, %d pairs: RSS %s, W1 beside them p99 %s, throughput %s\n",
			r.ManyConnsRSS.N, r.ManyConnsRSS.cell(), r.ManyConnsP99.cell(), r.ManyConnsThr.cell())
	}
	if r.MemcaslapThr != nil {
		fmt.Fprintf(w, "memcaslap, %d pairs: throughput %s, CPU per op %s\n",
			r.MemcaslapThr.N, r.MemcaslapThr.cell(), r.MemcaslapCPU.cell())
	}
	if !values {
		return
	}
	fmt.Fprintf(w, "\nper-pair ratios, in file and pair order:\n")
	line := func(name string, p *pooled) {
		if p == nil {
			return
		}
		v := make([]string, len(p.Values))
		for i, x := range p.Values {
			v[i] = fmt.Sprintf("%.2f", x)
		}
		fmt.Fprintf(w, "  %s: %s\n", name, strings.Join(v, ", "))
	}
	for _, x := range r.Workloads {
		line(x.ID+" throughput", x.Throughput)
		line(x.ID+" p99", x.P99)
		line(x.ID+" CPU/op", x.CPUPerOp)
		line(x.ID+" paced p50", x.PacedP50)
		line(x.ID+" paced p99", x.PacedP99)
		line(x.ID+" paced CPU/op", x.PacedCPU)
	}
	line("many connections RSS", r.ManyConnsRSS)
	line("many connections W1 p99", r.ManyConnsP99)
	line("memcaslap throughput", r.MemcaslapThr)
	line("memcaslap CPU/op", r.MemcaslapCPU)
}

func readReport(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is not a compare --json file: %w", path, err)
	}
	if len(r.Workloads) == 0 && r.ManyConns == nil && r.Memcaslap == nil {
		return nil, fmt.Errorf("%s holds no workload, many-connections or memcaslap pairs: write it with 'cachectl-bench compare --json FILE'", path)
	}
	return &r, nil
}

func newPoolCmd() *cobra.Command {
	var jsonOut, values bool
	cmd := &cobra.Command{
		Use:   "pool FILE...",
		Short: "Pool the per-pair ratios of compare runs, with bootstrap intervals",
		Long: `Read one or more files written by 'compare --json FILE' and print, for each
workload, the median of every pair's ratio cachectl/memcached over all the
runs with a 95% bootstrap interval of that median: unpaced throughput, p99
and CPU per op, and the paced p50, p99 and CPU per op. The many-connections
run and memcaslap are pooled too. One file gives that run's intervals.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var runs []*report
			for _, f := range args {
				r, err := readReport(f)
				if err != nil {
					return err
				}
				runs = append(runs, r)
			}
			p := poolReports(args, runs)
			if jsonOut {
				return writeJSON(cmd.OutOrStdout(), "-", p)
			}
			p.writeText(cmd.OutOrStdout(), values)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the pooled ratios as JSON")
	cmd.Flags().BoolVar(&values, "values", false, "also list every pair's ratio")
	return cmd
}
