package cached

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUDPFrames(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		frames []int // datagram sizes, header included
	}{
		{"empty is a bare header", 0, []int{8}},
		{"one byte", 1, []int{9}},
		{"exactly one datagram", udpDataSize, []int{udpMaxPayload}},
		{"one byte over", udpDataSize + 1, []int{udpMaxPayload, 9}},
		{"3023 bytes as memcached sends a 3000-byte value", 3023, []int{1400, 1400, 247}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := bytes.Repeat([]byte{'x'}, tt.size)
			frames := udpFrames(0x0102, resp)
			if len(frames) != len(tt.frames) {
				t.Fatalf("%d frames, want %d", len(frames), len(tt.frames))
			}
			var got []byte
			for i, f := range frames {
				if len(f) != tt.frames[i] {
					t.Errorf("frame %d is %d bytes, want %d", i, len(f), tt.frames[i])
				}
				h := udpHeader(f)
				wantTotal := len(tt.frames)
				if tt.size == 0 {
					wantTotal = 0
				}
				if h != [4]uint16{0x0102, uint16(i), uint16(wantTotal), 0} {
					t.Errorf("frame %d header %v", i, h)
				}
				got = append(got, f[udpHeaderSize:]...)
			}
			if !bytes.Equal(got, resp) {
				t.Error("payload not reassembled")
			}
		})
	}
}

func udpHeader(f []byte) [4]uint16 {
	var h [4]uint16
	for i := range h {
		h[i] = binary.BigEndian.Uint16(f[2*i:])
	}
	return h
}

func TestSplitGetReply(t *testing.T) {
	va := "VALUE a 5 3\r\nabc\r\n"
	vb := "VALUE b 0 5 9\r\nEND\r\n\r\n" // a value that looks like END
	tests := []struct {
		name string
		out  string
		keys string
		want []string
	}{
		{"one hit", va + "END\r\n", "a", []string{va + "END\r\n"}},
		{"one miss", "END\r\n", "nope", []string{"END\r\n"}},
		{"hit then miss", va + "END\r\n", "a nope", []string{va, "END\r\n"}},
		{"miss then hit", va + "END\r\n", "nope a", []string{"", va + "END\r\n"}},
		{"value that reads END", va + vb + "END\r\n", "a b", []string{va, vb + "END\r\n"}},
		{"unrecognised stays whole", "CLIENT_ERROR bad command line format\r\n", "a", []string{"CLIENT_ERROR bad command line format\r\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := bytes.Fields([]byte(tt.keys))
			var got []string
			for _, u := range splitGetReply([]byte(tt.out), keys) {
				got = append(got, string(u))
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// udpExchange sends one request datagram and collects every reply
// datagram until none arrives for quiet.
func udpExchange(t testing.TB, pc net.PacketConn, to net.Addr, reqID uint16, payload string, quiet time.Duration) [][]byte {
	t.Helper()
	d := make([]byte, udpHeaderSize, udpHeaderSize+len(payload))
	binary.BigEndian.PutUint16(d[0:], reqID)
	binary.BigEndian.PutUint16(d[4:], 1)
	d = append(d, payload...)
	if _, err := pc.WriteTo(d, to); err != nil {
		t.Fatalf("sending %q: %v", payload, err)
	}
	var got [][]byte
	buf := make([]byte, 65536)
	for range 100000 {
		pc.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("reading reply to %q: %v", payload, err)
			}
			return got
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
	t.Fatalf("endless reply to %q", payload)
	return nil
}

// udpTranscript renders datagrams as "id seq/total: payload" lines.
func udpTranscript(ds [][]byte) string {
	var b strings.Builder
	for _, d := range ds {
		if len(d) < udpHeaderSize {
			fmt.Fprintf(&b, "short %q\n", d)
			continue
		}
		h := udpHeader(d)
		fmt.Fprintf(&b, "%d %d/%d %d: %q\n", h[0], h[1], h[2], h[3], d[udpHeaderSize:])
	}
	return b.String()
}

// udpBeside serves cachectl with UDP on a free loopback port and returns
// its UDP address beside that of the reference memcached on refPort.
func udpBeside(t *testing.T, refPort int) (ours, ref *net.UDPAddr) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Port = freeLoopbackPort(t)
	cfg.UDPPort = cfg.Port
	srv := serveTransport(t, cfg, nil)
	ours = net.UDPAddrFromAddrPort(srv.UDPAddrs()[0])
	ref = net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(refPort)))
	return ours, ref
}

func udpClient(t testing.TB) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// udpConformance is a sequence of complete requests (memcached carries a
// half-read request into the next datagram; cachectl does not) and the
// large-value reply that needs several datagrams.
var udpConformance = []string{
	"set a 5 0 3\r\nabc\r\n",
	"get a\r\n",
	"get a a nope\r\n",
	"get nope a\r\n",
	"get nope\r\n",
	"get a nope\r\n",
	"set b 0 0 3000\r\n" + strings.Repeat("x", 3000) + "\r\n",
	"get b\r\n",
	"get a b\r\n",
	"get b a b\r\n",
	"set c 0 0 5000\r\n" + strings.Repeat("0123456789", 500) + "\r\n",
	"get c\r\n",
	"garbage\r\n",
	"\r\n",
	"GET a\r\n",
	"get a\r\nget a\r\n",
	"get a\nversion\r\n",
	"set x 0 0 1 noreply\r\nz\r\n",
	"get x\r\n",
	"set y 0 0 1\r\nzz\r\n",
	"incr nope 1\r\n",
	"delete a\r\n",
	"get a\r\n",
	"get " + strings.Repeat("b ", 30) + "\r\n",
	"\x80\x01\x00\x00",
	"quit\r\n",
}

// TestUDPMatchesMemcached sends the same datagrams to stock memcached and
// to cachectl and compares every reply datagram, header included.
func TestUDPMatchesMemcached(t *testing.T) {
	mc := memcachedPath(t)
	refPort := freeLoopbackPort(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	args := []string{"-l", "127.0.0.1", "-p", fmt.Sprint(refPort), "-U", fmt.Sprint(refPort), "-d", "-P", pidFile}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "root"}, args...)
	}
	if out, err := exec.Command(mc, args...).CombinedOutput(); err != nil {
		t.Fatalf("starting memcached: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if pid, err := os.ReadFile(pidFile); err == nil {
			exec.Command("kill", strings.TrimSpace(string(pid))).Run()
		}
	})
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", refPort))

	ours, ref := udpBeside(t, refPort)

	pc := udpClient(t)
	refDatagrams := 0
	for i, req := range udpConformance {
		id := uint16(100 + i)
		refReply := udpExchange(t, pc, ref, id, req, 150*time.Millisecond)
		refDatagrams += len(refReply)
		want := udpTranscript(refReply)
		got := udpTranscript(udpExchange(t, pc, ours, id, req, 150*time.Millisecond))
		if got != want {
			t.Errorf("request %q:\n got: %s\nwant: %s", trim(req), got, want)
		}
	}
	if refDatagrams < 60 {
		t.Errorf("memcached sent only %d datagrams; the comparison proves little", refDatagrams)
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func waitTCP(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening on %s after 5s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUDPRoundTrip: a set over UDP is visible over TCP and back, stats
// settings reports the port, and a request that spans datagrams or a
// multi-datagram request gets nothing, as in memcached.
func TestUDPRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Port = freeLoopbackPort(t)
	cfg.UDPPort = cfg.Port
	srv := serveTransport(t, cfg, nil)
	to := net.UDPAddrFromAddrPort(srv.UDPAddrs()[0])
	pc := udpClient(t)

	if got := udpTranscript(udpExchange(t, pc, to, 1, "set k 3 0 5\r\nhello\r\n", time.Second)); got != "1 0/1 0: \"STORED\\r\\n\"\n" {
		t.Fatalf("set over UDP: %s", got)
	}
	nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", cfg.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := textRequest(t, nc, "get k\r\n", "END"); strings.Join(got, "|") != "VALUE k 3 5|hello|END" {
		t.Errorf("TCP sees %q", got)
	}
	textRequest(t, nc, "set k2 0 0 2\r\nhi\r\n", "")
	if got := udpTranscript(udpExchange(t, pc, to, 2, "get k2\r\n", time.Second)); got != "2 0/1 0: \"VALUE k2 0 2\\r\\nhi\\r\\nEND\\r\\n\"\n" {
		t.Errorf("get over UDP: %s", got)
	}
	settings := textRequest(t, nc, "stats settings\r\n", "END")
	// Without -Z, the TLS lines read as memcached 1.6.18 prints them.
	for name, want := range map[string]string{"udpport": fmt.Sprint(cfg.UDPPort), "udp_any_peer": "no",
		"ssl_enabled": "no", "ssl_chain_cert": "(null)", "ssl_ca_cert": "NULL", "ssl_verify_mode": "0"} {
		if got := statValue(settings, name); got != want {
			t.Errorf("stats settings %s = %q, want %q", name, got, want)
		}
	}
	for _, req := range []string{"set z 0 0 10\r\nabc\r\n", "get k"} {
		if got := udpExchange(t, pc, to, 3, req, 300*time.Millisecond); len(got) != 0 {
			t.Errorf("incomplete request %q answered: %s", req, udpTranscript(got))
		}
	}
	multi := []byte{0, 4, 0, 0, 0, 2, 0, 0}
	multi = append(multi, "get k\r\n"...)
	pc.WriteTo(multi, to)
	if got := udpExchange(t, pc, to, 5, "version\r\n", 300*time.Millisecond); udpTranscript(got) != "5 0/1 0: \"VERSION "+ProtocolVersion+"\\r\\n\"\n" {
		t.Errorf("after a multi-datagram request: %s", udpTranscript(got))
	}
}
