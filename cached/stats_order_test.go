package cached

import (
	"slices"
	"strings"
	"testing"
)

// statKeys returns a `stats <sub>` reply's keys in the order sent.
func (s *statsClient) statKeys(t testing.TB, sub string) []string {
	t.Helper()
	req := "stats\r\n"
	if sub != "" {
		req = "stats " + sub + "\r\n"
	}
	var keys []string
	for _, l := range s.do(t, req, "END") {
		if f := strings.SplitN(l, " ", 3); len(f) == 3 && f[0] == "STAT" {
			keys = append(keys, f[1])
		}
	}
	return keys
}

// extraSettings are settings cachectl adds; missingSettings are
// memcached's for machinery cachectl lacks (seccomp's privilege dropping,
// in builds that have it).
var (
	extraSettings   = []string{"gomaxprocs", "udp_any_peer"}
	missingSettings = []string{"drop_privileges"}
)

// TestStatsOrderAsMemcached: under each LRU configuration, stats,
// stats items, stats slabs and stats settings carry the keys memcached
// 1.6.18 carries (its presence rules follow the maintainer, the crawler,
// the mover and temp_lru) in the same order.
func TestStatsOrderAsMemcached(t *testing.T) {
	workload := []string{"set a 0 0 1\r\n1\r\n", "set b 0 0 3\r\nabc\r\n", "get a\r\n", "get a\r\n", "set big 0 0 2000\r\n" + strings.Repeat("x", 2000) + "\r\n"}
	for _, args := range [][]string{
		nil,
		{"-o", "no_lru_maintainer"},
		{"-o", "no_modern"},
		{"-o", "temporary_ttl=30,no_lru_crawler"},
		{"-o", "no_slab_reassign,read_buf_mem_limit=8"},
		// t/stats.t's server, whose `stats` it counts; idle_timeout adds
		// idle_kicks.
		{"-I", "1024", "-o", "slab_chunk_max=1024,no_lru_crawler,no_lru_maintainer"},
		{"-o", "idle_timeout=60"},
	} {
		var extra []string
		if slices.Contains(args, "no_modern") {
			// no_modern also turns memcached's maxconns_fast off, which
			// takes rejected_connections out; cachectl always rejects
			// over -c at once, and counts it.
			extra = append(extra, "rejected_connections")
		}
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			keys := map[string]map[string][]string{}
			for name, start := range map[string]func(testing.TB, ...string) *daemon{"memcached": startMemcached, "cachectl": startCachectl} {
				c := newStatsClient(t, start(t, args...))
				for _, req := range workload {
					c.do(t, req+"mn\r\n", "MN")
				}
				keys[name] = map[string][]string{}
				for _, sub := range []string{"", "items", "slabs", "settings"} {
					keys[name][sub] = c.statKeys(t, sub)
				}
			}
			ref, got := keys["memcached"], keys["cachectl"]
			sameOrder(t, "stats", ref[""], got[""], nil, extra)
			sameOrder(t, "stats items", ref["items"], got["items"], nil, nil)
			sameOrder(t, "stats slabs", ref["slabs"], got["slabs"], nil, nil)
			sameOrder(t, "stats settings", ref["settings"], got["settings"], missingSettings, extraSettings)
		})
	}
}

// sameOrder compares two key sequences after leaving out the keys only
// one side is documented to send.
func sameOrder(t *testing.T, what string, ref, got, missing, extra []string) {
	t.Helper()
	drop := func(keys, out []string) []string {
		return slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return slices.Contains(out, k) })
	}
	r, g := drop(ref, missing), drop(got, extra)
	if !slices.Equal(r, g) {
		t.Errorf("%s keys differ\nmemcached %v\ncachectl  %v", what, r, g)
	}
}
