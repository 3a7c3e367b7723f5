package store

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// mcClient speaks just enough of memcached's text protocol for these tests.
type mcClient struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func (m *mcClient) line() string {
	m.t.Helper()
	l, err := m.rd.ReadString('\n')
	if err != nil {
		m.t.Fatalf("reading from memcached: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

func (m *mcClient) set(key string, exp int, val []byte) {
	m.t.Helper()
	fmt.Fprintf(m.c, "set %s 0 %d %d\r\n%s\r\n", key, exp, len(val), val)
	if l := m.line(); l != "STORED" {
		m.t.Fatalf("set %s: %q", key, l)
	}
}

// stats returns a `stats <sub>` reply as a map.
func (m *mcClient) stats(sub string) map[string]string {
	m.t.Helper()
	fmt.Fprintf(m.c, "stats %s\r\n", sub)
	out := map[string]string{}
	for l := m.line(); l != "END"; l = m.line() {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "STAT" {
			m.t.Fatalf("stats %s: %q", sub, l)
		}
		out[f[1]] = f[2]
	}
	return out
}

// startMemcached runs stock memcached 1.6.18 with extra flags in a
// throwaway namespace and connects to it.
func startMemcached(t *testing.T, args ...string) *mcClient {
	t.Helper()
	if _, err := exec.LookPath("memcached"); err != nil {
		nstest.Unavailable(t, "needs memcached (the reference server); make deps installs it")
	}
	ns := nstest.New(t)
	addr := netip.MustParseAddrPort("127.0.0.1:11211")
	ns.Start("memcached", append([]string{"-u", "root", "-l", "127.0.0.1", "-p", "11211", "-U", "0"}, args...)...)
	ns.WaitListening(addr, 5*time.Second)
	c, err := ns.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &mcClient{t: t, c: c, rd: bufio.NewReader(c)}
}

// TestReclaimMatchesMemcached runs one workload on memcached's flat LRU and
// on the store: three items that expire, then a set into their class. Both
// reuse the expired items' memory and count it the same way.
func TestReclaimMatchesMemcached(t *testing.T) {
	mc := startMemcached(t, "-o", "no_lru_maintainer,no_lru_crawler")
	// Class ids and chunk counts are compared, so items are placed by
	// memcached's size, as -o memcached_item_sizes does.
	s, clk := newStore(t, func(c *Config) { flat(c); c.MemcachedItemSizes = true })
	val := bytes.Repeat([]byte("x"), 100)
	for i := 0; i < 3; i++ {
		k := fmt.Sprint("e", i)
		mc.set(k, 1, val)
		set(t, s, k, val, 1)
	}
	mc.set("read", 1, val)
	set(t, s, "read", val, 1)
	fmt.Fprintf(mc.c, "get read\r\n")
	for l := mc.line(); l != "END"; l = mc.line() {
	}
	get(s, "read")
	// memcached reclaims once its one-second clock is past the expiry.
	time.Sleep(2500 * time.Millisecond)
	clk.advance(3)
	mc.set("new", 0, val)
	set(t, s, "new", val, 0)

	cs := classOf(t, s, "new")
	id := strconv.Itoa(cs.ID)
	items, slabs := mc.stats("items"), mc.stats("slabs")
	for _, c := range []struct {
		name, want string
		got        uint64
	}{
		{"items:" + id + ":reclaimed", items["items:"+id+":reclaimed"], cs.Reclaimed},
		{"items:" + id + ":expired_unfetched", items["items:"+id+":expired_unfetched"], cs.ExpiredUnfetched},
		{"items:" + id + ":number", items["items:"+id+":number"], uint64(cs.Items)},
		{"items:" + id + ":evicted", items["items:"+id+":evicted"], cs.Evicted},
		{id + ":total_pages", slabs[id+":total_pages"], uint64(cs.Pages)},
		{id + ":used_chunks", slabs[id+":used_chunks"], uint64(cs.UsedChunks)},
	} {
		if strconv.FormatUint(c.got, 10) != c.want {
			t.Errorf("%s: store %d, memcached %q", c.name, c.got, c.want)
		}
	}
	if cs.Reclaimed != 4 || cs.ExpiredUnfetched != 3 {
		t.Errorf("reclaimed %d, expired_unfetched %d; want 4, 3", cs.Reclaimed, cs.ExpiredUnfetched)
	}
}
