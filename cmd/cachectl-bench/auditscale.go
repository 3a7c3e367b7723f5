package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

type auditScaleOptions struct {
	cachectl   string
	sizes      []int
	cacheFlows int
	filters    []string
	runs       int
	json       string
}

func newAuditScaleCmd() *cobra.Command {
	var o auditScaleOptions
	cmd := &cobra.Command{
		Use:   "audit-scale",
		Short: "Time 'cachectl audit' and its peak RSS on conntrack tables of growing size",
		Long: `audit-scale fills a throwaway network namespace's conntrack table through
netlink (--cache-flows of the entries end at the cache port, half of them from
peers the policy does not permit; the rest is other traffic) and runs
'cachectl audit' there under each --filters value at each --sizes table size,
printing the median wall time and the largest peak RSS of the audit process.

The "daemon" column runs 'cachectl bind' in the namespace before the table is
filled, so it follows the conntrack events of the whole fill, and times
'cachectl audit --filter auto', which reads the daemon's event-tracked table
instead of a dump. It also reports the daemon's RSS above what it had on the
empty table, and the CPU it spent on the fill's events.

The kernel caps every namespace's table at net.netfilter.nf_conntrack_max,
which only the initial namespace may change: when the largest size does not
fit, audit-scale raises it there and restores it on exit. Needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.runs < 1 || o.cacheFlows < 2 || len(o.sizes) == 0 {
				return fmt.Errorf("need --runs >= 1, --cache-flows >= 2 and at least one size")
			}
			slices.Sort(o.sizes)
			if o.sizes[0] < o.cacheFlows {
				return fmt.Errorf("size %d is smaller than --cache-flows %d", o.sizes[0], o.cacheFlows)
			}
			return runAuditScale(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cachectl, "cachectl", "bin/cachectl", "cachectl binary (make build)")
	f.IntSliceVar(&o.sizes, "sizes", []int{50_000, 250_000, 1_000_000}, "conntrack table sizes to audit")
	f.IntVar(&o.cacheFlows, "cache-flows", 1000, "entries that end at the cache port")
	f.StringSliceVar(&o.filters, "filters", []string{"none", "tuple", "mark", filterDaemon}, "audit --filter values to compare, and daemon (the daemon's tracked table)")
	f.IntVar(&o.runs, "runs", 3, "audits per size and filter (the median time is reported)")
	f.StringVar(&o.json, "json", "", "also write the results as JSON to this file (- for stdout)")
	return cmd
}

// auditScaleResult is one size and filter.
type auditScaleResult struct {
	Entries    int     `json:"entries"`
	Filter     string  `json:"filter"`
	Used       string  `json:"used"` // the filter the report says applied
	Received   int     `json:"received"`
	Seconds    float64 `json:"seconds"` // median wall time of the audit process
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// CPU time of the median run, in the kernel (walking the table) and in
	// the process (decoding and judging).
	SysSeconds  float64 `json:"sys_seconds"`
	UserSeconds float64 `json:"user_seconds"`
	Violations  int     `json:"violations"`
	// For the daemon column: its RSS after the audits, that RSS above the
	// empty table's, the CPU it spent following this size's fill, and its
	// resyncs so far (after events lost while the table filled).
	DaemonRSSMiB   float64 `json:"daemon_rss_mib,omitempty"`
	DaemonAddedMiB float64 `json:"daemon_added_rss_mib,omitempty"`
	DaemonFillCPU  float64 `json:"daemon_fill_cpu_seconds,omitempty"`
	// DaemonEventMicros is that CPU per conntrack event of the fill (one
	// NEW event per entry created), almost all of them other flows'.
	DaemonEventMicros float64 `json:"daemon_cpu_us_per_event,omitempty"`
	Resyncs           int     `json:"resyncs,omitempty"`
}

func runAuditScale(ctx context.Context, w io.Writer, o auditScaleOptions) error {
	bin, err := filepath.Abs(o.cachectl)
	if err != nil {
		return err
	}
	lab, err := newAuditLab(bin, o.sizes[len(o.sizes)-1]+o.cacheFlows)
	if err != nil {
		return err
	}
	defer lab.close()
	if slices.Contains(o.filters, filterDaemon) {
		if err := lab.startDaemon(ctx); err != nil {
			return err
		}
	}
	var results []auditScaleResult
	filled := 0
	for _, size := range o.sizes {
		events := size - filled
		filled = size
		fillCPU, err := lab.fillTracked(ctx, size, o.cacheFlows)
		if err != nil {
			return err
		}
		for _, filter := range o.filters {
			r, err := lab.measure(ctx, filter, o.runs)
			if err != nil {
				return fmt.Errorf("%d entries, --filter %s: %w", size, filter, err)
			}
			r.Entries = size
			if filter == filterDaemon {
				r.DaemonFillCPU = fillCPU
				r.DaemonEventMicros = fillCPU / float64(events) * 1e6
				if err := lab.noteDaemon(&r); err != nil {
					return err
				}
			}
			results = append(results, r)
		}
	}
	printAuditScale(w, results)
	if o.json != "" {
		return writeJSON(w, o.json, results)
	}
	return nil
}

// measure runs the audit runs times and checks that every run judged the
// same cache flows.
func (l *auditLab) measure(ctx context.Context, filter string, runs int) (auditScaleResult, error) {
	res := auditScaleResult{Filter: filter}
	type run struct{ wall, sys, user float64 }
	var times []run
	for range runs {
		asked := filter
		if filter == filterDaemon {
			asked = "auto"
		}
		cmd := exec.CommandContext(ctx, l.cachectl, "audit", "--netns", l.ns, "--policy", l.policy,
			"--daemon", "", "--json", "--filter", asked)
		start := time.Now()
		out, err := cmd.Output()
		elapsed := time.Since(start)
		// Exit 3 is the expected verdict: half the cache's peers violate.
		if code := cmd.ProcessState.ExitCode(); err != nil && code != 3 {
			return res, fmt.Errorf("cachectl audit: %w\n%s", err, out)
		}
		var rep struct {
			Dump struct {
				Filter   string `json:"filter"`
				Received int    `json:"received"`
			} `json:"dump"`
			Source struct {
				Kind     string `json:"kind"`
				Fallback string `json:"fallback"`
				Resyncs  int    `json:"resyncs"`
			} `json:"source"`
			Summary struct {
				Flows      int `json:"flows"`
				Violations int `json:"violations"`
			} `json:"summary"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			return res, fmt.Errorf("reading the audit report: %w", err)
		}
		if rep.Summary.Flows != l.cacheFlows {
			return res, fmt.Errorf("the audit found %d cache flows, want %d", rep.Summary.Flows, l.cacheFlows)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		res.PeakRSSMiB = max(res.PeakRSSMiB, float64(ru.Maxrss)/1024) // Maxrss is in KiB on Linux
		res.Used, res.Received, res.Violations = rep.Dump.Filter, rep.Dump.Received, rep.Summary.Violations
		if filter == filterDaemon {
			if rep.Source.Kind != filterDaemon {
				return res, fmt.Errorf("the audit did not read the daemon's table: %s", rep.Source.Fallback)
			}
			res.Used, res.Received, res.Resyncs = filterDaemon, rep.Summary.Flows, rep.Source.Resyncs
		}
		times = append(times, run{elapsed.Seconds(), tvSeconds(ru.Stime), tvSeconds(ru.Utime)})
	}
	slices.SortFunc(times, func(a, b run) int { return cmp.Compare(a.wall, b.wall) })
	med := times[len(times)/2]
	res.Seconds, res.SysSeconds, res.UserSeconds = med.wall, med.sys, med.user
	return res, nil
}

func printAuditScale(w io.Writer, rs []auditScaleResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "entries\tfilter\treceived\tseconds\tsys\tuser\tpeak RSS MiB\tspeed-up vs none\tdaemon RSS (+table) MiB\tdaemon fill CPU s\tdaemon µs/event\tresyncs\t")
	full := map[int]float64{}
	for _, r := range rs {
		if r.Filter == "none" {
			full[r.Entries] = r.Seconds
		}
	}
	for _, r := range rs {
		speed := "-"
		if f, ok := full[r.Entries]; ok && r.Filter != "none" && r.Seconds > 0 {
			speed = strconv.FormatFloat(f/r.Seconds, 'f', 1, 64) + "x"
		}
		name := r.Filter
		if r.Used != r.Filter {
			name += " (used " + r.Used + ")"
		}
		daemon := "-\t-\t-\t-"
		if r.Filter == filterDaemon {
			daemon = fmt.Sprintf("%.1f (%+.1f)\t%.2f\t%.2f\t%d", r.DaemonRSSMiB, r.DaemonAddedMiB, r.DaemonFillCPU, r.DaemonEventMicros, r.Resyncs)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.3f\t%.3f\t%.3f\t%.1f\t%s\t%s\t\n", r.Entries, name, r.Received, r.Seconds, r.SysSeconds, r.UserSeconds, r.PeakRSSMiB, speed, daemon)
	}
	tw.Flush()
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// auditPolicy permits 10.0.0.0/9: the even cache peers (10.0.x.x) are
// permitted, the odd ones (10.200.x.x) are not.
func auditPolicy(addr string) string {
	return strings.Join([]string{"version: 1", "bind:", "  addresses: [" + addr + "]", "  port: 11211",
		"peers:", "  allowed:", "    - cidr: 10.0.0.0/9", ""}, "\n")
}
