package cached

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// statsClient is a minimal text-protocol client for the stats tests.
type statsClient struct {
	c  net.Conn
	br *bufio.Reader
}

func newStatsClient(t testing.TB, d *daemon) *statsClient {
	c := d.dial(t)
	return &statsClient{c: c, br: bufio.NewReader(c)}
}

// do sends a request and reads reply lines up to and including the one
// that matches end.
func (s *statsClient) do(t testing.TB, req string, end string) []string {
	t.Helper()
	s.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprint(s.c, req); err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	var lines []string
	for {
		l, err := s.br.ReadString('\n')
		if err != nil {
			t.Fatalf("%q: reading reply: %v (so far %q)", req, err, lines)
		}
		l = strings.TrimSuffix(l, "\r\n")
		lines = append(lines, l)
		if l == end {
			return lines
		}
	}
}

func (s *statsClient) stats(t testing.TB, sub string) map[string]string {
	t.Helper()
	req := "stats\r\n"
	if sub != "" {
		req = "stats " + sub + "\r\n"
	}
	out := map[string]string{}
	for _, l := range s.do(t, req, "END") {
		if l == "END" {
			continue
		}
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 || f[0] != "STAT" {
			t.Fatalf("stats %s: malformed line %q", sub, l)
		}
		out[f[1]] = f[2]
	}
	return out
}

// statsWorkload drives every counter the stats tests check, the same way
// on both servers. Each request is a round trip of its own: pipelined,
// memcached's pending get replies hold item references that make it copy
// items on incr, an artefact not worth imitating.
var statsWorkload = []string{
	"set a 0 0 1\r\n1\r\n", "set b 5 0 3\r\nabc\r\n", "set gone 0 -1 1\r\nx\r\n",
	"get a b nope gone\r\n", "gets a\r\n",
	"incr a 5\r\n", "incr nope 1\r\n", "decr a 1\r\n", "decr nope 1\r\n",
	"cas a 0 0 1 999\r\n2\r\n", "cas nope 0 0 1 1\r\n2\r\n", "gets a\r\n", "cas a 0 0 1 5\r\n7\r\n",
	"touch b 100\r\n", "touch nope 100\r\n", "gat 100 b nope\r\n",
	"delete b\r\n", "delete nope\r\n",
	"set f 0 0 1\r\n1\r\n", "flush_all\r\n", "get f\r\n", "set a 0 0 2\r\n10\r\n",
}

// countersThatMatch are stats whose values must equal memcached's after
// the same workload on fresh servers.
var countersThatMatch = []string{
	"cmd_get", "cmd_set", "cmd_touch", "cmd_flush", "get_hits", "get_misses",
	"delete_hits", "delete_misses", "incr_hits", "incr_misses", "decr_hits", "decr_misses",
	"cas_hits", "cas_misses", "cas_badval", "touch_hits", "touch_misses",
	"curr_items", "total_items", "get_expired", "get_flushed", "bytes", "evictions", "store_too_large", "store_no_memory",
	"curr_connections", "total_connections", "limit_maxbytes", "threads", "max_connections",
}

// cachectlStats are the keys of `stats cachectl`, in order: what cachectl
// counts beyond memcached, kept out of plain `stats` so that its keys are
// exactly memcached's.
var cachectlStats = []string{"denied_connections", "udp_denied", "connection_panics",
	"go_goroutines", "go_heap_bytes", "go_gc_cycles", "go_gc_pause_total_us", "go_gc_pause_max_us"}

var numeric = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func TestStatsShape(t *testing.T) {
	// Without the LRU maintainer neither server reclaims the expired and
	// flushed items in the background before the reads that count them, so
	// the counters are a function of the workload alone. bytes and
	// mem_requested are compared too: cachectl counts items as memcached does.
	mc := startMemcached(t, "-o", "no_lru_maintainer")
	us := startCachectl(t, "-o", "no_lru_maintainer,memcached_item_sizes")
	snap := map[string]map[string]map[string]string{}
	for name, d := range map[string]*daemon{"memcached": mc, "cachectl": us} {
		c := newStatsClient(t, d)
		for _, req := range statsWorkload {
			c.do(t, req+"mn\r\n", "MN")
		}
		snap[name] = map[string]map[string]string{}
		for _, sub := range []string{"", "settings", "items", "slabs", "conns"} {
			snap[name][sub] = c.stats(t, sub)
		}
	}
	ref, got := snap["memcached"], snap["cachectl"]

	t.Run("general", func(t *testing.T) {
		compareKeys(t, ref[""], got[""], nil, nil)
		for _, k := range countersThatMatch {
			if ref[""][k] != got[""][k] {
				t.Errorf("stats %s: cachectl %q, memcached %q", k, got[""][k], ref[""][k])
			}
		}
	})
	t.Run("items", func(t *testing.T) {
		compareKeys(t, ref["items"], got["items"], nil, nil)
	})
	t.Run("slabs", func(t *testing.T) {
		compareKeys(t, ref["slabs"], got["slabs"], nil, nil)
		for _, k := range []string{"1:chunk_size", "1:chunks_per_page", "active_slabs", "1:cmd_set", "1:get_hits"} {
			if ref["slabs"][k] != got["slabs"][k] {
				t.Errorf("stats slabs %s: cachectl %q, memcached %q", k, got["slabs"][k], ref["slabs"][k])
			}
		}
	})
	t.Run("settings", func(t *testing.T) {
		// cachectl lacks settings for machinery it does not have; the
		// ones monitoring reads must be there and agree.
		for _, k := range []string{"maxbytes", "maxconns", "tcpport", "udpport", "evictions", "growth_factor",
			"chunk_size", "num_threads", "cas_enabled", "item_size_max", "slab_chunk_max", "flush_enabled",
			"verbosity", "reqs_per_event", "tcp_backlog", "shutdown_command", "idle_timeout",
			"slab_reassign", "slab_automove", "slab_automove_ratio", "slab_automove_window",
			"lru_crawler", "lru_crawler_sleep", "lru_crawler_tocrawl", "lru_maintainer_thread",
			"lru_segmented", "hot_lru_pct", "warm_lru_pct", "hot_max_factor", "warm_max_factor",
			"temp_lru", "temporary_ttl", "read_buf_mem_limit",
			"ext_item_size", "ext_item_age", "ext_low_ttl", "ext_recache_rate", "ext_wbuf_size", "ext_compact_under",
			"ext_drop_under", "ext_max_sleep", "ext_max_frag", "slab_automove_freeratio", "ext_drop_unread"} {
			want := ref["settings"][k]
			if k == "tcpport" {
				continue // different free ports
			}
			if want == "" || got["settings"][k] != want {
				t.Errorf("stats settings %s: cachectl %q, memcached %q", k, got["settings"][k], want)
			}
		}
		numericAsRef(t, ref["settings"], got["settings"])
	})
	t.Run("conns", func(t *testing.T) {
		shape := regexp.MustCompile(`^\d+:(addr|listen_addr|state|secs_since_last_cmd)$`)
		for _, s := range []map[string]string{ref["conns"], got["conns"]} {
			if len(s) == 0 {
				t.Errorf("stats conns is empty")
			}
			for k := range s {
				if !shape.MatchString(k) {
					t.Errorf("stats conns: unexpected key %q", k)
				}
			}
		}
		states := func(m map[string]string) []string {
			var out []string
			for k, v := range m {
				if strings.HasSuffix(k, ":state") {
					out = append(out, v)
				}
			}
			slices.Sort(out)
			return out
		}
		if a, b := states(ref["conns"]), states(got["conns"]); !slices.Equal(a, b) {
			t.Errorf("stats conns states: cachectl %v, memcached %v", b, a)
		}
	})
}

// TestStatsCachectl: `stats cachectl` carries exactly cachectl's own
// counters, then the embedding program's, over text and binary alike, and
// plain `stats` carries none of them.
func TestStatsCachectl(t *testing.T) {
	_, addr := startInProcess(t, func(cfg *Config) {
		cfg.ExtraStats = func(add func(string, any)) { add("embedder_count", 7) }
	})
	want := append(slices.Clone(cachectlStats), "embedder_count")
	nc := dial(t, addr)
	lines := textRequest(t, nc, "stats cachectl\r\n", "END")
	var keys []string
	for _, l := range lines[:len(lines)-1] {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 || f[0] != "STAT" || !numeric.MatchString(f[2]) {
			t.Fatalf("stats cachectl: line %q is not STAT name number", l)
		}
		keys = append(keys, f[1])
	}
	if !slices.Equal(keys, want) {
		t.Errorf("stats cachectl keys\n got  %v\n want %v", keys, want)
	}
	if v := statValue(lines, "embedder_count"); v != "7" {
		t.Errorf("stats cachectl embedder_count = %q, want 7", v)
	}
	general := textRequest(t, nc, "stats\r\n", "END")
	for _, k := range want {
		if v := statValue(general, k); v != "" {
			t.Errorf("plain stats has cachectl's %s (%s)", k, v)
		}
	}
	bin := binStats(t, dial(t, addr), "cachectl")
	if len(bin) != len(want) {
		t.Errorf("binary stat cachectl: %d keys, want %d: %v", len(bin), len(want), bin)
	}
	for _, k := range want {
		if _, ok := bin[k]; !ok {
			t.Errorf("binary stat cachectl lacks %s", k)
		}
	}
}

// compareKeys checks that got has every key of ref (but the documented
// missing ones), no undocumented extras, and numbers where ref has them.
func compareKeys(t *testing.T, ref, got map[string]string, missing, extra []string) {
	t.Helper()
	if len(ref) == 0 {
		t.Fatalf("memcached sent no stats")
	}
	for k := range ref {
		if _, ok := got[k]; !ok && !slices.Contains(missing, k) {
			t.Errorf("cachectl lacks memcached's stat %q", k)
		}
	}
	for k := range got {
		if _, ok := ref[k]; !ok && !slices.Contains(extra, k) {
			t.Errorf("cachectl sends stat %q that memcached does not", k)
		}
	}
	numericAsRef(t, ref, got)
}

func numericAsRef(t *testing.T, ref, got map[string]string) {
	t.Helper()
	for k, v := range ref {
		if g, ok := got[k]; ok && numeric.MatchString(v) && !numeric.MatchString(g) {
			t.Errorf("stat %s: memcached's is numeric (%q), cachectl's is %q", k, v, g)
		}
	}
}
