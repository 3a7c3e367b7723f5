package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// abuseKind is one way a client misbehaves. Each opens one connection,
// misbehaves for a bounded time and hangs up; the daemon's replies are
// read and discarded, since a malformed request has no one right answer.
type abuseKind struct {
	name string
	run  func(nc net.Conn, rng *rand.Rand, stop <-chan struct{})
}

// abuseKinds never send a command that changes the checked clients' keys:
// their keys live under "abuse:", they never flush, and random binary
// bytes never start with the binary magic (a random opcode could be flush).
var abuseKinds = []abuseKind{
	{"garbage bytes", func(nc net.Conn, rng *rand.Rand, _ <-chan struct{}) {
		b := randBytes(rng, 1+rng.IntN(8192))
		if b[0] == 0x80 {
			b[0] = 'x'
		}
		nc.Write(b)
		drain(nc, 500*time.Millisecond)
	}},
	{"garbage lines", func(nc net.Conn, rng *rand.Rand, _ <-chan struct{}) {
		var b bytes.Buffer
		for range 1 + rng.IntN(50) {
			b.WriteString(garbageLine(rng))
		}
		nc.Write(b.Bytes())
		drain(nc, 500*time.Millisecond)
	}},
	{"line > 2048 bytes, no newline", func(nc net.Conn, rng *rand.Rand, _ <-chan struct{}) {
		prefix := []string{"get ", "set ", "mg ", "", "gets abuse:"}[rng.IntN(5)]
		nc.Write([]byte(prefix + strings.Repeat("k", 2049+rng.IntN(64<<10))))
		drain(nc, 500*time.Millisecond)
	}},
	{"huge declared length", func(nc net.Conn, rng *rand.Rand, _ <-chan struct{}) {
		cmd := []string{"set abuse:h 0 0 2000000000\r\n", "add abuse:h 0 0 1073741824\r\n",
			"ms abuse:h 2000000000 T0\r\n", "append abuse:h 0 0 4294967295\r\n", "cas abuse:h 0 0 2000000000 1\r\n"}[rng.IntN(5)]
		nc.Write([]byte(cmd))
		nc.Write(randText(rng, rng.IntN(4096)))
		drain(nc, 200*time.Millisecond)
	}},
	{"partial line, hang up", func(nc net.Conn, rng *rand.Rand, _ <-chan struct{}) {
		nc.Write([]byte([]string{"get abuse:p", "set abuse:p 0 0", "mg abuse:p v", "incr abuse:"}[rng.IntN(4)]))
	}},
	{"partial value, hang up", func(nc net.Conn, rng *rand.Rand, _ <-chan struct{}) {
		n := 10 + rng.IntN(100_000)
		nc.Write([]byte("set abuse:v 0 0 " + strconv.Itoa(n) + "\r\n"))
		nc.Write(randText(rng, rng.IntN(n)))
	}},
	{"slow partial line, stall", func(nc net.Conn, rng *rand.Rand, stop <-chan struct{}) {
		for _, ch := range []byte("get abuse:slow") {
			nc.Write([]byte{ch})
			if !sleepOrStop(stop, time.Duration(50+rng.IntN(200))*time.Millisecond) {
				return
			}
		}
		sleepOrStop(stop, time.Duration(2+rng.IntN(6))*time.Second)
	}},
	{"binary bogus lengths", func(nc net.Conn, rng *rand.Rand, _ <-chan struct{}) {
		nc.Write(bogusBinaryHeader(rng))
		nc.Write(randBytes(rng, rng.IntN(256)))
		drain(nc, 300*time.Millisecond)
	}},
	{"idle", func(nc net.Conn, rng *rand.Rand, stop <-chan struct{}) {
		sleepOrStop(stop, time.Duration(1+rng.IntN(8))*time.Second)
	}},
	// Connection churn: many short connections that ask one thing and hang
	// up. Besides being a common misbehaviour, each costs the daemon a
	// connection's buffers, so the runtime's GC keeps running after a flood
	// rather than letting the flood's garbage sit in RSS for many minutes.
	{"connection churn (x100)", func(nc net.Conn, _ *rand.Rand, stop <-chan struct{}) {
		addr := nc.RemoteAddr().String()
		for range 100 {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, "version\r\n")
			c.Read(make([]byte, 64))
			c.Close()
		}
	}},
}

// bogusBinaryHeader is a binary request header whose lengths disagree:
// a body shorter than key+extras, a huge body, or a huge key.
func bogusBinaryHeader(rng *rand.Rand) []byte {
	h := make([]byte, 24)
	h[0] = 0x80
	h[1] = []byte{0x00, 0x01, 0x02, 0x05, 0x0c, 0x1c}[rng.IntN(6)] // get set add incr getk touch
	switch rng.IntN(3) {
	case 0: // body shorter than key and extras
		binary.BigEndian.PutUint16(h[2:], 200)
		h[4] = 8
		binary.BigEndian.PutUint32(h[8:], 10)
	case 1: // a body of ~4 GB
		binary.BigEndian.PutUint16(h[2:], 5)
		binary.BigEndian.PutUint32(h[8:], 0xfffffff0)
	default: // a key longer than any allowed
		binary.BigEndian.PutUint16(h[2:], 0xffff)
		binary.BigEndian.PutUint32(h[8:], 0xffff+8)
		h[4] = 8
	}
	return h
}

var garbageWords = []string{"get", "gets", "set", "add", "cas", "incr", "decr", "touch", "gat", "mg", "ms", "md",
	"ma", "mn", "me", "stats", "verbosity", "version", "abuse:x", "-1", "0", "99999999999999999999", "noreply",
	"\x00", "\xff", "VALUE", "END", "k", "T-1", "S-5", "stats cachedump 1 0", ""}

func garbageLine(rng *rand.Rand) string {
	n := rng.IntN(8)
	w := make([]string, n)
	for i := range w {
		w[i] = garbageWords[rng.IntN(len(garbageWords))]
	}
	sep := []string{"\r\n", "\n", "\r\r\n"}[rng.IntN(3)]
	return strings.Join(w, " ") + sep
}

// abuseTally counts connections per kind.
type abuseTally struct {
	conns   []atomic.Int64 // per abuseKinds index
	dialErr atomic.Int64
	udp     atomic.Int64 // garbage datagrams sent
}

// runAbusers runs n goroutines, each opening one misbehaving connection
// after another until ctx ends. Every connection has a hard deadline.
func runAbusers(ctx context.Context, addr string, n int, seed uint64, t *abuseTally) {
	t.conns = make([]atomic.Int64, len(abuseKinds))
	var wg sync.WaitGroup
	for i := range n {
		rng := rand.New(rand.NewPCG(seed, 0xab05e+uint64(i)))
		wg.Go(func() {
			for ctx.Err() == nil {
				k := rng.IntN(len(abuseKinds))
				nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					t.dialErr.Add(1)
					sleepOrStop(ctx.Done(), 100*time.Millisecond)
					continue
				}
				nc.SetDeadline(time.Now().Add(15 * time.Second))
				abuseKinds[k].run(nc, rng, ctx.Done())
				nc.Close()
				t.conns[k].Add(1)
			}
		})
	}
	wg.Wait()
}

// floodResult is one connection flood past -c.
type floodResult struct {
	Opened   int
	Rejected int // answered "ERROR Too many open connections"
}

// flood opens up to limit connections, calls during (the sampler, so the
// peak is seen), reads what the ones past -c are told while holding them
// briefly, and closes them all.
func flood(ctx context.Context, addr string, limit int, hold time.Duration, during func()) floodResult {
	var r floodResult
	conns := make([]net.Conn, 0, limit)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range limit {
		if ctx.Err() != nil {
			return r
		}
		nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break
		}
		conns = append(conns, nc)
	}
	r.Opened = len(conns)
	during()
	// Only the rejected ones have anything to say; read them all at once.
	var wg sync.WaitGroup
	var rejected atomic.Int64
	for _, nc := range conns {
		wg.Go(func() {
			nc.SetReadDeadline(time.Now().Add(hold))
			line, _ := bufio.NewReader(nc).ReadString('\n')
			if line == "ERROR Too many open connections\r\n" {
				rejected.Add(1)
			}
		})
	}
	wg.Wait()
	r.Rejected = int(rejected.Load())
	return r
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func randText(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(rng.IntN(26))
	}
	return b
}

// drain reads and discards replies for up to d.
func drain(nc net.Conn, d time.Duration) {
	nc.SetReadDeadline(time.Now().Add(d))
	io.Copy(io.Discard, io.LimitReader(nc, 1<<20))
}

func sleepOrStop(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// udpGarbage sends framed and unframed junk to the UDP port, ~200
// datagrams a second, until ctx ends. Replies (if the peer is allowed)
// are not read; the kernel drops them when the socket closes.
func udpGarbage(ctx context.Context, port int, seed uint64, t *abuseTally) {
	nc, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return
	}
	defer nc.Close()
	rng := rand.New(rand.NewPCG(seed, 0x0d9))
	for sleepOrStop(ctx.Done(), 5*time.Millisecond) {
		var b []byte
		switch rng.IntN(3) {
		case 0: // a frame header, then a garbage line
			b = append([]byte{0, byte(rng.Uint32()), 0, 0, 0, 1, 0, 0}, garbageLine(rng)...)
		case 1: // a frame header claiming many datagrams
			b = append([]byte{0, 1, 0, 0, 0xff, 0xff, 0, 0}, "get abuse:u\r\n"...)
		default:
			b = randBytes(rng, rng.IntN(1400))
		}
		nc.Write(b)
		t.udp.Add(1)
	}
}
