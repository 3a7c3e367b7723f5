package main

import (
	"strings"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	cd, err := newCodec(7, 64, 16384)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for k := range uint32(500) {
		for _, dl := range []int64{0, now + 5000} {
			v, flags := cd.appendValue(nil, k, uint64(k)*3+1, dl)
			if msg := cd.check(k, flags, v, now); msg != "" {
				t.Fatalf("key %d: %s", k, msg)
			}
		}
	}
}

func TestCodecCatchesWrongValues(t *testing.T) {
	cd, _ := newCodec(7, 100, 100)
	now := time.Now().UnixMilli()
	good, flags := cd.appendValue(nil, 42, 9, 0)
	other, _ := cd.appendValue(nil, 43, 9, 0)
	expired, eflags := cd.appendValue(nil, 42, 9, now-10_000)
	flip := append([]byte(nil), good...)
	flip[len(flip)-1] ^= 1
	tests := []struct {
		name  string
		flags uint32
		v     []byte
		want  string
	}{
		{"other key's value", flags, other, "returned the value of key 43"},
		{"flags", flags + 1, good, "flags"},
		{"truncated", flags, good[:99], "length"},
		{"flipped byte", flags, flip, "bytes differ"},
		{"garbage", flags, []byte("hello"), "no valid header"},
		{"served after TTL", eflags, expired, "after its TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msg := cd.check(42, tt.flags, tt.v, now); !strings.Contains(msg, tt.want) {
				t.Errorf("check = %q, want it to mention %q", msg, tt.want)
			}
		})
	}
}

func TestParseValueLine(t *testing.T) {
	tests := []struct {
		line       string
		key, flags uint32
		n          int
		wantErr    bool
	}{
		{"VALUE key:12 7 100\r\n", 12, 7, 100, false},
		{"VALUE key:12 7 100 5\r\n", 12, 7, 100, false},
		{"VALUE key:12 7\r\n", 0, 0, 0, true},
		{"VALUE key:x 7 100\r\n", 0, 0, 0, true},
		{"SERVER_ERROR out of memory\r\n", 0, 0, 0, true},
		{"VALUE key:1 2 3 4 5\r\n", 0, 0, 0, true},
		{"VALUE key:1 2 3\n", 0, 0, 0, true},
	}
	for _, tt := range tests {
		k, f, n, msg := parseValueLine([]byte(tt.line))
		if (msg != "") != tt.wantErr || k != tt.key || f != tt.flags || n != tt.n {
			t.Errorf("%q: got %d %d %d %q", tt.line, k, f, n, msg)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		want := q * 10000 * float64(time.Microsecond)
		if got := float64(h.quantile(q)); got < want*0.95 || got > want*1.05 {
			t.Errorf("q%.3f = %v, want within 5%% of %v", q, time.Duration(got), time.Duration(want))
		}
	}
}

func TestParseGCTrace(t *testing.T) {
	in := "gc 1 @0.012s 2%: 0.015+0.31+0.003 ms clock, 0.031+0.12/0.22/0.0+0.007 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"noise\n" +
		"gc 2 @1.5s 3%: 0.5+12+0.8 ms clock, 1+0.1/2/0+1.6 ms cpu, 900->950->600 MB, 1000 MB goal, 0 MB stacks, 0 MB globals, 2 P\n"
	g := parseGCTrace(in)
	if g.Cycles != 2 || g.MaxPause != 0.8 || g.MaxHeapMB != 900 || g.LastGoalMB != 1000 || g.ConcMarkMax != 12 {
		t.Errorf("got %+v", g)
	}
}

func TestFixedCodec(t *testing.T) {
	cd, err := newFixedCodec(7, 10, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for k := range uint32(2000) {
		v, flags := cd.appendValue(nil, k, uint64(k)+9, 0)
		seen[len(v)] = true
		if len(v) < 10 || len(v) > 100 {
			t.Fatalf("key %d: %d bytes, want 10..100", k, len(v))
		}
		if msg := cd.check(k, flags, v, 0); msg != "" {
			t.Fatalf("key %d: %s", k, msg)
		}
		// The version is ignored: a cache-aside client stores one value per key.
		if again, _ := cd.appendValue(nil, k, 0, 0); string(again) != string(v) {
			t.Fatalf("key %d: two values", k)
		}
	}
	if len(seen) < 80 {
		t.Fatalf("only %d distinct lengths in 10..100", len(seen))
	}
	good, flags := cd.appendValue(nil, 42, 0, 0)
	other, oflags := cd.appendValue(nil, 43, 0, 0)
	flip := append([]byte(nil), good...)
	flip[0] ^= 1
	for name, tc := range map[string]struct {
		flags uint32
		v     []byte
	}{
		"other key's value": {oflags, other},
		"flags":             {flags + 1, good},
		"flipped byte":      {flags, flip},
		"truncated":         {flags, good[:len(good)-1]},
	} {
		if cd.check(42, tc.flags, tc.v, 0) == "" {
			t.Errorf("%s: not caught", name)
		}
	}
	if _, err := newFixedCodec(1, 0, 10); err == nil {
		t.Error("empty values accepted")
	}
}

func TestFixedValuesNeedCacheAside(t *testing.T) {
	base := loadConfig{Conns: 1, GetRatio: 0.9, Keys: 10, Pipeline: 1, MultiGet: 1, Duration: time.Second, MinSize: 10, MaxSize: 20}
	for _, tc := range []struct {
		name string
		edit func(*loadConfig)
		ok   bool
	}{
		{"cache-aside, fixed", func(c *loadConfig) { c.CacheAside, c.FixedValues = true, true }, true},
		{"get-only, fixed", func(c *loadConfig) { c.GetRatio, c.FixedValues = 1, true }, true},
		{"mixed, fixed", func(c *loadConfig) { c.FixedValues = true }, false},
		{"cache-aside, versioned", func(c *loadConfig) { c.CacheAside = true }, false},
		{"cache-aside, multi-get", func(c *loadConfig) { c.CacheAside, c.FixedValues, c.MultiGet = true, true, 2 }, false},
		{"fixed with TTL", func(c *loadConfig) { c.CacheAside, c.FixedValues, c.TTLMax = true, true, 5 }, false},
	} {
		c := base
		tc.edit(&c)
		if err := c.validate(); (err == nil) != tc.ok {
			t.Errorf("%s: validate = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestSelectFills(t *testing.T) {
	if f, err := selectFills("f2, F1"); err != nil || len(f) != 2 || f[0].ID != "F2" {
		t.Fatalf("selectFills: %v %v", f, err)
	}
	if f, err := selectFills(""); err != nil || len(f) != 0 {
		t.Fatalf("empty list: %v %v", f, err)
	}
	if _, err := selectFills("F9"); err == nil || !strings.Contains(err.Error(), "F9") {
		t.Fatalf("unknown fill: %v", err)
	}
}
