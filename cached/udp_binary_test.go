package cached

import (
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// binaryDatagrams are binary requests, one datagram each: every request
// is a response unit of its own, quiet successes and misses are bare
// headers, a large value spans datagrams, a truncated packet gets nothing.
func binaryDatagrams() [][]pkt {
	big := strings.Repeat("0123456789", 300)
	withOpaque := func(p pkt, o uint32) pkt { p.opaque = o; return p }
	return [][]pkt{
		{withOpaque(req(opSet, "k", setExtras(5, 0), "hello"), 7)},
		{req(opGet, "k", nil, "")},
		{req(opGetK, "k", nil, ""), req(opNoop, "", nil, "")},
		{req(opGet, "missing", nil, "")},
		{req(opGetQ, "missing", nil, ""), req(opNoop, "", nil, "")},
		{req(opSetQ, "q", setExtras(0, 0), "v"), req(opGet, "q", nil, "")},
		{req(opSet, "big", setExtras(0, 0), big)},
		{req(opGet, "big", nil, "")},
		{req(opIncrement, "n", arithExtras(1, 41, 0), "")},
		{req(opIncrement, "n", arithExtras(1, 41, 0), "")},
		{req(opDelete, "k", nil, ""), req(opDelete, "k", nil, "")},
		{req(opVersion, "", nil, "")},
		{req(opQuit, "", nil, "")},
	}
}

func TestUDPBinaryMatchesMemcached(t *testing.T) {
	mcPort := freeLoopbackPort(t)
	startMemcached(t, "-U", strconv.Itoa(mcPort))
	ours, ref := udpBeside(t, mcPort)

	pc := udpClient(t)
	sent := 0
	cases := binaryDatagrams()
	// A packet cut short and a text request between binary ones: each
	// datagram picks its protocol by its first byte.
	truncated := req(opGet, "k", nil, "").bytes()[:10]
	for i, pkts := range cases {
		var payload []byte
		for _, p := range pkts {
			payload = append(payload, p.bytes()...)
		}
		if i == 3 {
			compareUDP(t, pc, ref, ours, 300, string(truncated))
			compareUDP(t, pc, ref, ours, 301, "get k\r\n")
		}
		sent += compareUDP(t, pc, ref, ours, uint16(200+i), string(payload))
	}
	if sent < 15 {
		t.Errorf("memcached sent only %d datagrams; the comparison proves little", sent)
	}
}

// compareUDP sends one datagram to both servers and compares the replies,
// headers included; it returns how many datagrams memcached sent.
func compareUDP(t *testing.T, pc net.PacketConn, ref, ours net.Addr, id uint16, payload string) int {
	t.Helper()
	want := udpExchange(t, pc, ref, id, payload, 150*time.Millisecond)
	got := udpExchange(t, pc, ours, id, payload, 150*time.Millisecond)
	if udpTranscript(got) != udpTranscript(want) {
		t.Errorf("datagram %d %q:\n got: %s\nwant: %s", id, trim(payload), udpTranscript(got), udpTranscript(want))
	}
	return len(want)
}

var (
	statFD   = regexp.MustCompile(`STAT \d+:`)
	addrPort = regexp.MustCompile(`(?m):\d+$`)
	idleSecs = regexp.MustCompile(`secs_since_last_cmd \d+`)
)

// connsShape blanks what differs between two servers in `stats conns`:
// descriptor numbers, ports and idle seconds.
func connsShape(lines []string) string {
	s := strings.Join(lines, "\n")
	s = statFD.ReplaceAllString(s, "STAT N:")
	s = addrPort.ReplaceAllString(s, ":P")
	return idleSecs.ReplaceAllString(s, "secs_since_last_cmd S")
}

// stats conns lists one UDP connection per worker thread, and the one
// answering a UDP request with that request's peer, as memcached does.
func TestUDPStatsConnsMatchMemcached(t *testing.T) {
	mcPort := freeLoopbackPort(t)
	mc := startMemcached(t, "-t", "2", "-U", strconv.Itoa(mcPort))
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Threads = 2
	cfg.Port = freeLoopbackPort(t)
	cfg.UDPPort = cfg.Port
	srv := serveTransport(t, cfg, nil)
	ourTCP := srv.Addrs()[0].String()

	// A client that closed (memcached's readiness probe, or the TCP
	// clients below) stays listed until its server's worker reads the EOF:
	// ask again until only the clients expected are listed.
	tcpClients := func(s string) int { return strings.Count(s, ":listen_addr tcp:") }
	viaTCP := func(nc net.Conn) string {
		return settleStats(func() string {
			return connsShape(textRequest(t, nc, "stats conns\r\n", "END"))
		}, func(s string) bool { return tcpClients(s) == 1 })
	}
	mcConn, ourConn := dial(t, mc.addr), dial(t, ourTCP)
	want, got := viaTCP(mcConn), viaTCP(ourConn)
	mcConn.Close()
	ourConn.Close()
	if got != want {
		t.Errorf("stats conns over TCP:\n%s\nmemcached's:\n%s", got, want)
	}
	if !strings.Contains(got, "STAT N:UDP UDP\nSTAT N:addr udp:127.0.0.1:P\nSTAT N:state conn_read") {
		t.Errorf("stats conns does not list the UDP listener:\n%s", got)
	}
	pc := udpClient(t)
	ref := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(mcPort)))
	ours := net.UDPAddrFromAddrPort(srv.UDPAddrs()[0])
	viaUDP := func(to net.Addr) string {
		return settleStats(func() string { return udpConns(t, pc, to) }, func(s string) bool { return tcpClients(s) == 0 })
	}
	if got, want := viaUDP(ours), viaUDP(ref); got != want {
		t.Errorf("stats conns over UDP:\n%s\nmemcached's:\n%s", got, want)
	}
}

// udpConns asks `stats conns` in a datagram and returns the reply's shape
// as a sorted set of lines: which worker answers is the kernel's choice.
func udpConns(t *testing.T, pc net.PacketConn, to net.Addr) string {
	t.Helper()
	var body []byte
	for _, d := range udpExchange(t, pc, to, 9, "stats conns\r\n", 150*time.Millisecond) {
		body = append(body, d[udpHeaderSize:]...)
	}
	lines := strings.Split(connsShape(strings.Split(strings.TrimSuffix(string(body), "\r\n"), "\r\n")), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// settleStats repeats ask until settled accepts its answer, for at most
// 5 s, and returns the last answer: the caller's comparison then reports
// any difference that did not go away.
func settleStats(ask func() string, settled func(string) bool) string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := ask()
		if settled(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client's own entry ends `stats conns` in a server with UDP workers,
// as in memcached, whose t/watcher_connid.t (over TCP, so with -U) reads
// its descriptor from the last line. The UDP duplicates must not leave a
// lower descriptor free for a client to take.
func TestStatsConnsEndsWithNewestClient(t *testing.T) {
	t.Parallel()
	servers := []struct {
		name string
		d    *daemon
	}{
		{"memcached", startMemcached(t, "-t", "4", "-U", strconv.Itoa(freeLoopbackPort(t)))},
		{"cachectl", startCachectl(t, "-t", "4", "-U", strconv.Itoa(freeLoopbackPort(t)))},
	}
	for _, s := range servers {
		// conns asks until n TCP clients are listed, and returns the last
		// connection listed and the whole answer. A closed client (the
		// readiness probe) stays listed until its worker reads the EOF.
		conns := func(nc net.Conn, n int) (string, string) {
			out := settleStats(func() string {
				return strings.Join(textRequest(t, nc, "stats conns\r\n", "END"), "\n")
			}, func(s string) bool { return strings.Count(s, ":listen_addr tcp:") == n })
			last := ""
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) == 3 && strings.HasSuffix(f[1], ":addr") {
					last = f[2]
				}
			}
			return last, out
		}
		// A hole below the UDP workers' descriptors goes to the first
		// client if the probe's is already free, or else to the second.
		var clients []net.Conn
		for n := range 2 {
			nc := dial(t, s.d.addr)
			clients = append(clients, nc)
			last, out := conns(nc, n+1)
			if last != "tcp:"+nc.LocalAddr().String() {
				t.Errorf("%s: the last connection in stats conns is %q, not the client asking (tcp:%s):\n%s",
					s.name, last, nc.LocalAddr(), out)
			}
		}
		for _, nc := range clients {
			nc.Close()
		}
	}
}

// A UDP worker's duplicate takes the lowest descriptor free, as dup(2)
// does in memcached, and leaves no lower one free behind it.
func TestDupUDPLeavesNoHole(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	lowest := func() int {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		return fd
	}
	want := lowest()
	dup, err := dupUDP(pc)
	if err != nil {
		t.Fatal(err)
	}
	defer dup.Close()
	got := listenerFD(dup)
	if got != want {
		t.Errorf("the duplicate is descriptor %d; the lowest free was %d", got, want)
	}
	if free := lowest(); free < got {
		t.Errorf("descriptor %d is left free below the duplicate's %d", free, got)
	}
}
