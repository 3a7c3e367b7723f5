package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedianInterval(t *testing.T) {
	tests := []struct {
		name   string
		v      []float64
		lo, hi float64 // exact bounds, or the range the interval must lie in
		exact  bool
	}{
		{name: "one pair", v: []float64{1.2}, lo: 1.2, hi: 1.2, exact: true},
		{name: "all equal", v: []float64{0.9, 0.9, 0.9, 0.9}, lo: 0.9, hi: 0.9, exact: true},
		{name: "spread", v: []float64{0.6, 0.8, 0.9, 1.0, 1.0, 1.1, 1.2, 1.5}, lo: 0.6, hi: 1.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := medianInterval(tc.v)
			if tc.exact && (lo != tc.lo || hi != tc.hi) {
				t.Fatalf("interval [%v, %v], want [%v, %v]", lo, hi, tc.lo, tc.hi)
			}
			m := median(tc.v)
			if lo > m || hi < m || lo < tc.lo || hi > tc.hi {
				t.Fatalf("interval [%v, %v] of median %v, want it within [%v, %v] and around the median", lo, hi, m, tc.lo, tc.hi)
			}
			if lo2, hi2 := medianInterval(tc.v); lo2 != lo || hi2 != hi {
				t.Fatalf("a second call gave [%v, %v] after [%v, %v]: the interval must not depend on the run", lo2, hi2, lo, hi)
			}
		})
	}
}

// pairTrials is one pair of a workload: memcached's and cachectl's
// trials with the given throughputs and p99s.
func pairTrials(pair int, mcThr, ccThr float64, mcP99, ccP99 time.Duration) []trial {
	one := func(kind serverKind, thr float64, p99 time.Duration) trial {
		return trial{Server: kind, Pair: pair, Throughpt: thr, CPUPerOp: 10,
			Result: &loadResult{P50: time.Millisecond, P99: p99, P999: p99}}
	}
	return []trial{one(memcached, mcThr, mcP99), one(cachectl, ccThr, ccP99)}
}

func TestPoolReports(t *testing.T) {
	ms := time.Millisecond
	run1 := &report{Workloads: []*workloadResult{
		{ID: "W1", Desc: "first", Trials: slices.Concat(pairTrials(0, 100, 110, 4*ms, 4*ms), pairTrials(1, 100, 90, 4*ms, 2*ms)),
			Paced: &paced{Trials: pairTrials(0, 70, 70, 10*ms, 5*ms)}},
		{ID: "W2", Desc: "second", Trials: pairTrials(0, 100, 100, ms, ms)},
	},
		Memcaslap: &memcaslapResult{Trials: []memcaslapTrial{
			{Server: cachectl, Pair: 0, TPS: 120, CPUPerOp: 1}, {Server: memcached, Pair: 0, TPS: 100, CPUPerOp: 2}}},
	}
	run2 := &report{Workloads: []*workloadResult{
		// A pair missing its cachectl side is left out.
		{ID: "W1", Desc: "first", Trials: append(pairTrials(0, 100, 120, 4*ms, 8*ms), pairTrials(1, 100, 0, ms, ms)[0]),
			Paced: &paced{Trials: pairTrials(0, 70, 70, 10*ms, 20*ms)}},
	},
		ManyConns: &manyConnsResult{Trials: []manyConnsTrial{
			{Server: memcached, Pair: 0, RSSKB: 1000, W1: &loadResult{P99: 2 * ms, OpsPerSec: 10}, Idle: &loadResult{}},
			{Server: cachectl, Pair: 0, RSSKB: 900, W1: &loadResult{P99: 2 * ms, OpsPerSec: 11}, Idle: &loadResult{}}}},
	}
	p := poolReports([]string{"a.json", "b.json"}, []*report{run1, run2})

	if got := len(p.Workloads); got != 2 || p.Workloads[0].ID != "W1" || p.Workloads[1].ID != "W2" {
		t.Fatalf("workloads %v, want W1 then W2", p.Workloads)
	}
	w1 := p.Workloads[0]
	tests := []struct {
		name   string
		got    *pooled
		values []float64
	}{
		{"W1 throughput", w1.Throughput, []float64{1.1, 0.9, 1.2}},
		{"W1 p99", w1.P99, []float64{1, 0.5, 2}},
		{"W1 CPU per op", w1.CPUPerOp, []float64{1, 1, 1}},
		{"W1 paced p99", w1.PacedP99, []float64{0.5, 2}},
		{"W2 throughput", p.Workloads[1].Throughput, []float64{1}},
		{"many connections RSS", p.ManyConnsRSS, []float64{0.9}},
		{"memcaslap throughput", p.MemcaslapThr, []float64{1.2}},
		{"memcaslap CPU per op", p.MemcaslapCPU, []float64{0.5}},
	}
	for _, tc := range tests {
		if tc.got == nil {
			t.Errorf("%s: not pooled", tc.name)
			continue
		}
		if !slices.Equal(tc.got.Values, tc.values) || tc.got.N != len(tc.values) || tc.got.Median != median(tc.values) {
			t.Errorf("%s: values %v (n %d, median %v), want %v", tc.name, tc.got.Values, tc.got.N, tc.got.Median, tc.values)
		}
	}
	if w1.Runs != 2 || p.Workloads[1].Runs != 1 {
		t.Errorf("runs W1 %d W2 %d, want 2 and 1", w1.Runs, p.Workloads[1].Runs)
	}
	if p.Workloads[1].PacedP99 != nil {
		t.Errorf("W2 was never paced, yet has paced ratios %v", p.Workloads[1].PacedP99)
	}
}

func TestPoolCommand(t *testing.T) {
	dir := t.TempDir()
	ms := time.Millisecond
	r := &report{Workloads: []*workloadResult{{ID: "W1", Desc: "90/10", Trials: pairTrials(0, 100, 105, 4*ms, 3*ms),
		Paced: &paced{Trials: pairTrials(0, 70, 70, 10*ms, 9*ms)}}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "run.json")
	notJSON := filepath.Join(dir, "log.txt")
	empty := filepath.Join(dir, "empty.json")
	for path, body := range map[string][]byte{good: b, notJSON: []byte("W1: 90/10\n"), empty: []byte("{}")} {
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		args    []string
		want    []string // in the output, or in the error when wantErr
		wantErr bool
	}{
		{name: "table", args: []string{good}, want: []string{"| W1 90/10 | 1 | 1 | 1.05 [1.05, 1.05] | 0.75 [0.75, 0.75] |", "0.90 [0.90, 0.90]"}},
		{name: "values", args: []string{"--values", good}, want: []string{"W1 paced p99: 0.90"}},
		{name: "json", args: []string{"--json", good, good}, want: []string{`"pairs": 2`, `"median": 1.05`}},
		{name: "not a compare file", args: []string{notJSON}, want: []string{"log.txt is not a compare --json file"}, wantErr: true},
		{name: "no pairs", args: []string{empty}, want: []string{"empty.json holds no workload", "compare --json FILE"}, wantErr: true},
		{name: "missing", args: []string{filepath.Join(dir, "nope.json")}, want: []string{"nope.json"}, wantErr: true},
		{name: "no files", args: nil, want: []string{"requires at least 1 arg"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newPoolCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v; output:\n%s", err, tc.wantErr, out.String())
			}
			text := out.String()
			if err != nil {
				text = err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("%q not in:\n%s", w, text)
				}
			}
		})
	}
}
