package main

import (
	"fmt"
	"io"
	"time"
)

// soakSample is one sampler reading of the daemon.
type soakSample struct {
	At         time.Duration `json:"at_ns"` // since the run started
	RSSKB      int64         `json:"rss_kb"`
	Goroutines int64         `json:"go_goroutines"`
	Conns      int64         `json:"curr_connections"`
	HeapBytes  int64         `json:"go_heap_bytes"`
}

// soakLimits are the pass/fail thresholds; see defaultSoakLimits for why
// each has the value it has.
type soakLimits struct {
	MemoryMB        int   `json:"memory_mb"`         // -m
	OverheadMB      int   `json:"overhead_mb"`       // RSS allowed above -m
	GoroutineSlack  int64 `json:"goroutine_slack"`   // goroutines allowed above the baseline at the end
	TrendKB         int64 `json:"trend_kb"`          // RSS floor growth allowed across the last half
	MinTrendSamples int   `json:"min_trend_samples"` // fewer samples in the last half: no trend verdict
}

// soakOutcome is what the run observed, judged by judgeSoak.
type soakOutcome struct {
	WrongReplies   int64         `json:"wrong_replies"`
	FirstWrong     string        `json:"first_wrong,omitempty"`
	Baseline       soakSample    `json:"baseline"` // after the checking clients connected, before any abuse
	End            soakSample    `json:"end"`      // after the abusive clients are gone
	Samples        []soakSample  `json:"samples"`
	Duration       time.Duration `json:"duration_ns"`
	VersionErr     error         `json:"-"`             // the final `version` probe (its check carries the text)
	FloodRejects   int64         `json:"flood_rejects"` // connections past -c that got memcached's answer
	FloodsRun      int           `json:"floods"`
	DaemonExitedAt string        `json:"daemon_exited,omitempty"` // non-empty if the daemon died during the run
}

// soakCheck is one line of the verdict.
type soakCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// judgeSoak turns an outcome into checks; the run passes if all are OK.
func judgeSoak(o soakOutcome, l soakLimits) []soakCheck {
	var cs []soakCheck
	add := func(name string, ok bool, format string, args ...any) {
		cs = append(cs, soakCheck{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	add("daemon alive", o.DaemonExitedAt == "", "%s", orText(o.DaemonExitedAt, "ran to the end"))
	if o.FirstWrong != "" {
		add("wrong replies", o.WrongReplies == 0, "%d; first: %s", o.WrongReplies, o.FirstWrong)
	} else {
		add("wrong replies", o.WrongReplies == 0, "%d", o.WrongReplies)
	}
	if o.VersionErr != nil {
		add("answers version", false, "%v", o.VersionErr)
	} else {
		add("answers version", true, "yes, after the run")
	}
	add("past -c answered", o.FloodsRun == 0 || o.FloodRejects > 0,
		"%d floods, %d connections got ERROR Too many open connections", o.FloodsRun, o.FloodRejects)
	limitG := o.Baseline.Goroutines + l.GoroutineSlack
	add("goroutines back to baseline", o.End.Goroutines <= limitG,
		"baseline %d, end %d, allowed %d", o.Baseline.Goroutines, o.End.Goroutines, limitG)
	limitKB := int64(l.MemoryMB+l.OverheadMB) << 10
	add("RSS within -m + overhead", o.End.RSSKB > 0 && o.End.RSSKB <= limitKB,
		"end %.1f MB, allowed %d MB + %d MB", mb(o.End.RSSKB), l.MemoryMB, l.OverheadMB)
	first, last, n := rssTrend(o.Samples, o.Duration)
	switch {
	case n < l.MinTrendSamples:
		add("no RSS growth in last half", false, "only %d samples in the last half (need %d)", n, l.MinTrendSamples)
	default:
		add("no RSS growth in last half", last <= first+l.TrendKB,
			"floor %.1f MB -> %.1f MB over %d samples, allowed +%.1f MB", mb(first), mb(last), n, mb(l.TrendKB))
	}
	return cs
}

// rssTrend compares the RSS floor (minimum) of the first and the last
// third of the run's second half. Floors, not means: a burst of abusive
// connections lifts RSS for a few seconds without being growth, while a
// leak lifts the floor.
func rssTrend(samples []soakSample, d time.Duration) (first, last int64, n int) {
	half := d / 2
	third := (d - half) / 3
	first, last = -1, -1
	for _, s := range samples {
		if s.At < half || s.RSSKB <= 0 {
			continue
		}
		n++
		switch {
		case s.At < half+third:
			first = minFloor(first, s.RSSKB)
		case s.At >= d-third:
			last = minFloor(last, s.RSSKB)
		}
	}
	if first < 0 || last < 0 {
		return 0, 0, 0
	}
	return first, last, n
}

func minFloor(cur, v int64) int64 {
	if cur < 0 || v < cur {
		return v
	}
	return cur
}

func soakPassed(cs []soakCheck) bool {
	for _, c := range cs {
		if !c.OK {
			return false
		}
	}
	return true
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// peaks are the largest readings over the run.
func peaks(samples []soakSample) soakSample {
	var p soakSample
	for _, s := range samples {
		p.RSSKB = max(p.RSSKB, s.RSSKB)
		p.Goroutines = max(p.Goroutines, s.Goroutines)
		p.Conns = max(p.Conns, s.Conns)
		p.HeapBytes = max(p.HeapBytes, s.HeapBytes)
	}
	return p
}

// writeSoakSummary prints the summary table and the verdict.
func writeSoakSummary(w io.Writer, r *soakReport) {
	o := r.Outcome
	p := peaks(o.Samples)
	fmt.Fprintf(w, "\n# cachectl soak, %s, -m %d -c %d\n\n", o.Duration.Round(time.Second), r.Limits.MemoryMB, r.MaxConns)
	fmt.Fprintf(w, "| client | requests | wrong |\n|---|---:|---:|\n")
	for _, c := range r.Clients {
		fmt.Fprintf(w, "| %s | %d | %d |\n", c.Name, c.Requests, c.Wrong)
	}
	fmt.Fprintf(w, "\n| abuse | connections |\n|---|---:|\n")
	for _, a := range r.Abuse {
		fmt.Fprintf(w, "| %s | %d |\n", a.Name, a.Conns)
	}
	fmt.Fprintf(w, "\n| daemon | start | peak | end |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(w, "| RSS MB | %.1f | %.1f | %.1f |\n", mb(o.Baseline.RSSKB), mb(p.RSSKB), mb(o.End.RSSKB))
	fmt.Fprintf(w, "| go_goroutines | %d | %d | %d |\n", o.Baseline.Goroutines, p.Goroutines, o.End.Goroutines)
	fmt.Fprintf(w, "| curr_connections | %d | %d | %d |\n", o.Baseline.Conns, p.Conns, o.End.Conns)
	fmt.Fprintf(w, "| go_heap MB | %.1f | %.1f | %.1f |\n",
		mb(o.Baseline.HeapBytes>>10), mb(p.HeapBytes>>10), mb(o.End.HeapBytes>>10))
	if r.GC != "" {
		fmt.Fprintf(w, "\n%s\n", r.GC)
	}
	fmt.Fprintf(w, "\n| check | result | detail |\n|---|---|---|\n")
	for _, c := range r.Checks {
		res := "ok"
		if !c.OK {
			res = "**FAIL**"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", c.Name, res, c.Detail)
	}
}
