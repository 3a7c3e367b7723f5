package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// flatRun is a healthy 100 s run: RSS flat at 90 MB with a flood spike
// in the last half, which must not read as growth.
func flatRun() soakOutcome {
	var ss []soakSample
	for i := range 100 {
		s := soakSample{At: time.Duration(i) * time.Second, RSSKB: 90 << 10, Goroutines: 30, Conns: 14}
		if i == 90 || i == 91 {
			s.RSSKB, s.Goroutines = 120<<10, 4100
		}
		ss = append(ss, s)
	}
	return soakOutcome{
		Baseline: soakSample{RSSKB: 30 << 10, Goroutines: 30, Conns: 14},
		End:      soakSample{At: 100 * time.Second, RSSKB: 90 << 10, Goroutines: 32, Conns: 14},
		Samples:  ss, Duration: 100 * time.Second, FloodsRun: 2, FloodRejects: 150,
	}
}

var testLimits = soakLimits{MemoryMB: 64, OverheadMB: 64, GoroutineSlack: 8, TrendKB: 4 << 10, MinTrendSamples: 6}

func TestJudgeSoak(t *testing.T) {
	tests := []struct {
		name string
		edit func(*soakOutcome)
		fail string // the one check expected to fail ("" = all pass)
	}{
		{"healthy", func(*soakOutcome) {}, ""},
		{"wrong reply", func(o *soakOutcome) { o.WrongReplies, o.FirstWrong = 1, "get key 5: value bytes differ" }, "wrong replies"},
		{"no version", func(o *soakOutcome) { o.VersionErr = errors.New("connection refused") }, "answers version"},
		{"daemon died", func(o *soakOutcome) { o.DaemonExitedAt = "exited" }, "daemon alive"},
		{"flood never rejected", func(o *soakOutcome) { o.FloodRejects = 0 }, "past -c answered"},
		{"goroutine leak", func(o *soakOutcome) { o.End.Goroutines = 39 }, "goroutines back to baseline"},
		{"goroutines at slack edge", func(o *soakOutcome) { o.End.Goroutines = 38 }, ""},
		{"RSS over the bound", func(o *soakOutcome) { o.End.RSSKB = 128<<10 + 1 }, "RSS within -m + overhead"},
		{"RSS never read", func(o *soakOutcome) { o.End.RSSKB = 0 }, "RSS within -m + overhead"},
		{"RSS floor creeps up", func(o *soakOutcome) {
			for i := range o.Samples {
				o.Samples[i].RSSKB += int64(i) * 200 // 200 kB/s: floors 6.6 MB apart
			}
		}, "no RSS growth in last half"},
		{"too few samples", func(o *soakOutcome) { o.Samples = o.Samples[:52] }, "no RSS growth in last half"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := flatRun()
			tt.edit(&o)
			checks := judgeSoak(o, testLimits)
			var failed []string
			for _, c := range checks {
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			want := []string{}
			if tt.fail != "" {
				want = []string{tt.fail}
			}
			if strings.Join(failed, ",") != strings.Join(want, ",") {
				t.Errorf("failed checks %q, want %q; checks: %+v", failed, want, checks)
			}
			if soakPassed(checks) != (tt.fail == "") {
				t.Errorf("soakPassed = %v", soakPassed(checks))
			}
		})
	}
}

func TestRSSTrend(t *testing.T) {
	var ss []soakSample
	for i, kb := range []int64{50, 60, 70, 80, 95, 90, 91, 99, 92, 93, 300, 94} {
		ss = append(ss, soakSample{At: time.Duration(i) * time.Second, RSSKB: kb})
	}
	// Last half is [6 s, 12 s): first third [6, 8) floor 91, last third
	// [10, 12) floor 94 (the 300 spike is ignored by the floor).
	first, last, n := rssTrend(ss, 12*time.Second)
	if first != 91 || last != 94 || n != 6 {
		t.Errorf("rssTrend = %d, %d, %d; want 91, 94, 6", first, last, n)
	}
	if _, _, n := rssTrend(ss[:3], 12*time.Second); n != 0 {
		t.Errorf("rssTrend of first-half samples only: n = %d, want 0", n)
	}
}
