package cached

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// binStats reads a Stat reply into a map, checking the packet framing.
func binStats(t *testing.T, nc net.Conn, group string) map[string]string {
	t.Helper()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(req(opStat, group, nil, "").bytes()); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for range 5000 {
		p, err := readPkt(nc)
		if err != nil {
			t.Fatalf("stat %q: %v", group, err)
		}
		if p.opcode != opStat || p.status != statusOK || len(p.extras) != 0 {
			t.Fatalf("stat %q: unexpected packet %v", group, p)
		}
		if len(p.key) == 0 {
			if len(p.value) != 0 {
				t.Fatalf("stat %q: terminator with a value %v", group, p)
			}
			return out
		}
		out[string(p.key)] = string(p.value)
	}
	t.Fatalf("stat %q: no terminator", group)
	return nil
}

// TestBinaryStatsCounters runs the same commands on both servers and
// requires the command counters to move identically.
func TestBinaryStatsCounters(t *testing.T) {
	_, ours := startInProcess(t, nil)
	ref := memcachedAddr(t)
	steps := []pkt{
		req(opSet, "a", setExtras(0, 0), "1"), req(opSetQ, "b", setExtras(0, 0), "x"),
		req(opAdd, "a", setExtras(0, 0), "1"), req(opReplace, "zz", setExtras(0, 0), "1"),
		req(opGet, "a", nil, ""), req(opGetK, "zz", nil, ""), req(opGetQ, "zz", nil, ""), req(opGetKQ, "b", nil, ""),
		req(opIncrement, "a", arithExtras(5, 0, 0), ""), req(opIncrement, "zz", arithExtras(5, 0, noCreate), ""),
		req(opIncrement, "c", arithExtras(5, 7, 0), ""), req(opDecrement, "a", arithExtras(1, 0, 0), ""),
		req(opDecrement, "zz", arithExtras(1, 0, noCreate), ""), req(opIncrement, "b", arithExtras(1, 0, 0), ""),
		req(opTouch, "a", u32(100), ""), req(opTouch, "zz", u32(100), ""),
		req(opGAT, "b", u32(100), ""), req(opGATKQ, "zz", u32(100), ""),
		req(opAppend, "b", nil, "y"), req(opPrepend, "zz", nil, "y"),
		req(opDelete, "b", nil, ""), req(opDelete, "zz", nil, ""), req(opDeleteQ, "a", nil, "").withCAS(1 << 40),
		req(opFlush, "", nil, ""),
	}
	counters := strings.Fields(`cmd_get cmd_set cmd_flush cmd_touch get_hits get_misses get_expired get_flushed
		delete_misses delete_hits incr_misses incr_hits decr_misses decr_hits cas_misses cas_hits cas_badval
		touch_hits touch_misses`)
	results := map[string]map[string]string{}
	for name, addr := range map[string]string{"ours": ours, "memcached": ref} {
		nc := dial(t, addr)
		binStats(t, nc, "reset")
		var send []byte
		for _, p := range steps {
			send = append(send, p.bytes()...)
		}
		exchange(t, nc, send)
		results[name] = binStats(t, nc, "")
	}
	for _, k := range counters {
		got, want := results["ours"][k], results["memcached"][k]
		if got != want || got == "" {
			t.Errorf("%s = %q, memcached %q", k, got, want)
		}
	}
}

// TestBinaryStatGroups checks that every group memcached serves over the
// binary protocol is framed as packets and ends with the terminator.
func TestBinaryStatGroups(t *testing.T) {
	_, ours := startInProcess(t, nil)
	nc := dial(t, ours)
	exchange(t, nc, req(opSet, "k", setExtras(0, 0), "v").bytes())
	general := binStats(t, nc, "")
	if general["cmd_set"] != "1" || general["curr_items"] != "1" || general["pid"] == "" {
		t.Errorf("general stats: cmd_set=%q curr_items=%q pid=%q", general["cmd_set"], general["curr_items"], general["pid"])
	}
	if got := binStats(t, nc, "settings")["binding_protocol"]; got != "auto-negotiate" {
		t.Errorf("binding_protocol = %q, want auto-negotiate", got)
	}
	if items := binStats(t, nc, "items"); len(items) == 0 {
		t.Error("stat items: empty")
	}
	if slabs := binStats(t, nc, "slabs"); slabs["active_slabs"] == "" {
		t.Errorf("stat slabs: no active_slabs in %v", slabs)
	}
	if got := binStats(t, nc, "sizes")["sizes_status"]; got != "disabled" {
		t.Errorf("sizes_status = %q", got)
	}
	if got := binStats(t, nc, "detail dump")["detailed"]; got != "END\r\n" {
		t.Errorf("detail dump = %q", got)
	}
	binStats(t, nc, "reset")
	if got := binStats(t, nc, "")["cmd_set"]; got != "0" {
		t.Errorf("cmd_set after reset = %q", got)
	}
}

// TestBinaryProtocolSetting checks -B: ascii never speaks binary, binary
// hangs up on text, auto decides per connection.
func TestBinaryProtocolSetting(t *testing.T) {
	for _, tc := range []struct {
		proto        Protocol
		binding      string
		text, binary bool
	}{
		{ProtocolAuto, "auto-negotiate", true, true},
		{ProtocolASCII, "ascii", true, false},
		{ProtocolBinary, "binary", false, true},
	} {
		t.Run(tc.binding, func(t *testing.T) {
			_, addr := startInProcess(t, func(c *Config) { c.Protocol = tc.proto })
			nc := dial(t, addr)
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			// Three requests: a binary-only server judges the magic once
			// it has a whole 24-byte header, as memcached does.
			nc.Write([]byte("version\r\nversion\r\nversion\r\n"))
			line, err := bufio.NewReader(nc).ReadString('\n')
			if gotText := err == nil && line == "VERSION "+ProtocolVersion+"\r\n"; gotText != tc.text {
				t.Errorf("text version: %q, %v", line, err)
			}
			nc = dial(t, addr)
			if !tc.binary {
				// The text parser reads the packet as a line of garbage.
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				nc.Write(append(req(opVersion, "", nil, "").bytes(), "\r\n"...))
				if line, err := bufio.NewReader(nc).ReadString('\n'); line != "ERROR\r\n" {
					t.Errorf("binary packet to a text-only server: %q, %v", line, err)
				}
				return
			}
			got, closed := exchange(t, nc, req(opVersion, "", nil, "").bytes())
			if gotBinary := !closed && len(got) == 1 && string(got[0].value) == ProtocolVersion; gotBinary != tc.binary {
				t.Errorf("binary version: %v closed=%v", got, closed)
			}
			if tc.binary {
				if got := binStats(t, nc, "settings")["binding_protocol"]; got != tc.binding {
					t.Errorf("binding_protocol = %q, want %q", got, tc.binding)
				}
			}
		})
	}
	for in, want := range map[string]Protocol{"auto": ProtocolAuto, "ascii": ProtocolASCII, "binary": ProtocolBinary} {
		if got, err := ParseProtocol(in); err != nil || got != want {
			t.Errorf("ParseProtocol(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseProtocol("negotiate"); err == nil {
		t.Error("ParseProtocol accepted an unknown protocol")
	}
}

// zeroReader yields n zero bytes without allocating.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), z.n))
	clear(p[:k])
	z.n -= int64(k)
	return k, nil
}

type rwPair struct {
	io.Reader
	io.Writer
}

func testServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.store.Close() })
	return srv
}

// TestBinaryHugeBodyIsBounded: a header announcing a 256 MB value costs a
// "Too large." and a bounded skip, never a 256 MB allocation.
func TestBinaryHugeBodyIsBounded(t *testing.T) {
	srv := testServer(t, nil)
	const body = 256 << 20
	hdr := req(opSet, "k", setExtras(0, 0), "")
	hdr.bodylen = 1 + 8 + body
	in := io.MultiReader(bytes.NewReader(hdr.bytes()), &zeroReader{n: body},
		bytes.NewReader(req(opNoop, "", nil, "").bytes()))
	var out bytes.Buffer
	c := newConn(srv, rwPair{in, &out})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := c.serve()
	runtime.ReadMemStats(&after)
	if err != io.EOF {
		t.Fatalf("serve: %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("allocated %d bytes to skip a %d-byte body", grew, body)
	}
	if len(c.in) > 64<<10 {
		t.Errorf("input buffer grew to %d bytes", len(c.in))
	}
	r := bytes.NewReader(out.Bytes())
	p1, _ := readPkt(r)
	p2, _ := readPkt(r)
	if p1.status != statusTooLarge || string(p1.value) != "Too large." || p2.opcode != opNoop || p2.status != statusOK {
		t.Errorf("replies %v %v", p1, p2)
	}
}

// TestBinaryLongHeaderIsBounded: the largest key and extras a header can
// announce fit a bounded buffer and end in memcached's protocol error.
func TestBinaryLongHeaderIsBounded(t *testing.T) {
	srv := testServer(t, nil)
	p := req(opGet, strings.Repeat("k", 65535), bytes.Repeat([]byte{1}, 255), "")
	var out bytes.Buffer
	c := newConn(srv, rwPair{bytes.NewReader(p.bytes()), &out})
	if err := c.serve(); err != errClose {
		t.Fatalf("serve: %v", err)
	}
	if len(c.in) > 128<<10 {
		t.Errorf("input buffer grew to %d bytes", len(c.in))
	}
	got, _ := readPkt(bytes.NewReader(out.Bytes()))
	if got.status != statusInvalid || string(got.value) != "Invalid arguments" {
		t.Errorf("reply %v", got)
	}
}

// TestBinaryOutOfMemory: with evictions off (-M) a full cache answers
// memcached's "Out of memory" status, and a failed set drops the old value.
func TestBinaryOutOfMemory(t *testing.T) {
	srv := testServer(t, func(c *Config) {
		c.Store.MemoryLimit = 2 << 20
		c.Store.Evictions = false
	})
	value := strings.Repeat("v", 100<<10)
	var in bytes.Buffer
	in.Write(req(opSet, "victim", setExtras(0, 0), "small").bytes())
	for i := range 40 {
		in.Write(req(opSetQ, "fill"+string(rune('A'+i)), setExtras(0, 0), value).bytes())
	}
	in.Write(req(opSet, "victim", setExtras(0, 0), value).bytes())
	in.Write(req(opGet, "victim", nil, "").bytes())
	var out bytes.Buffer
	newConn(srv, rwPair{&in, &out}).serve()
	r := bytes.NewReader(out.Bytes())
	var oom, last []pkt
	for {
		p, err := readPkt(r)
		if err != nil {
			break
		}
		if p.status == statusNoMemory {
			oom = append(oom, p)
		}
		last = append(last, p)
	}
	if len(oom) == 0 || string(oom[0].value) != "Out of memory allocating item" {
		t.Fatalf("no out-of-memory reply: %v", last)
	}
	if got := last[len(last)-1]; got.opcode != opGet || got.status != statusNotFound {
		t.Errorf("victim after a failed set: %v", got)
	}
}

// TestBinaryCASAndIncrValues checks the values behind the compared
// statuses: CAS changes on every modification and incr returns numbers.
func TestBinaryCASAndIncrValues(t *testing.T) {
	_, ours := startInProcess(t, nil)
	nc := dial(t, ours)
	got, _ := exchange(t, nc, req(opIncrement, "n", arithExtras(5, 40, 0), "").bytes())
	if len(got) != 1 || binary.BigEndian.Uint64(got[0].value) != 40 || got[0].cas == 0 {
		t.Fatalf("incr create: %v", got)
	}
	cas1 := got[0].cas
	got, _ = exchange(t, nc, req(opIncrement, "n", arithExtras(5, 40, 0), "").bytes())
	if binary.BigEndian.Uint64(got[0].value) != 45 || got[0].cas == cas1 {
		t.Fatalf("incr: %v (cas %d after %d)", got, got[0].cas, cas1)
	}
	got, _ = exchange(t, nc, req(opGet, "n", nil, "").bytes())
	if string(got[0].value) != "45" || binary.BigEndian.Uint32(got[0].extras) != 0 {
		t.Fatalf("get counter: %v", got)
	}
}

// TestBinaryStatSizesAsMemcached: the histogram's switches answer with a
// stat packet and no terminator in memcached, so a client reads exactly
// one packet; the packets must be the same here.
func TestBinaryStatSizesAsMemcached(t *testing.T) {
	_, ours := startInProcess(t, func(c *Config) { c.Store.MemcachedItemSizes = true })
	ref := memcachedAddr(t)
	steps := [][]byte{
		req(opStat, "sizes", nil, "").bytes(),
		req(opStat, "sizes_enable", nil, "").bytes(),
		req(opSet, "k", setExtras(0, 0), "v").bytes(),
		req(opStat, "sizes", nil, "").bytes(),
		req(opStat, "sizes_disable", nil, "").bytes(),
		req(opStat, "sizes", nil, "").bytes(),
	}
	a, b := dial(t, ours), dial(t, ref)
	for i, step := range steps {
		got, _ := exchange(t, a, step)
		want, _ := exchange(t, b, step)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("step %d: cachectl %v, memcached %v", i, got, want)
		}
	}
}
