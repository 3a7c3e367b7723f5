package cached

import (
	"github.com/cachectl/cachectl/cached/protocol"

	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// memcached's UDP framing: every datagram, both ways, starts with an
// 8-byte header of four big-endian 16-bit fields: request id, sequence
// number, total datagrams in this response, reserved (0). A response is
// cut into datagrams of at most udpMaxPayload bytes including the header.
const (
	udpHeaderSize   = 8
	udpMaxPayload   = 1400 // memcached's UDP_MAX_PAYLOAD_SIZE
	udpDataSize     = udpMaxPayload - udpHeaderSize
	udpReadBuffer   = 65536 // memcached's UDP_READ_BUFFER_SIZE
	udpMaxDatagrams = 65535 // the total field is 16 bits; memcached clamps it too
)

// udpAdmit decides whether a UDP peer gets any answer at all. UDP has no
// handshake, so the source address may be forged: answering a forged
// source is what made memcached's UDP port the 2018 amplification vector
// (CVE-2018-1000115). The only reply size that is safe for a peer we do
// not trust is zero, so unadmitted peers get nothing, not a small error.
// With the policy's filter installed the filter decides; without one only
// loopback is answered, unless the operator opted in with udp_any_peer.
func (s *Server) udpAdmit(peer netip.Addr) bool {
	if f := s.filter.Load(); f != nil {
		_, ok := (*f)(peer)
		return ok
	}
	return s.cfg.UDPAnyPeer || peer.IsLoopback()
}

// listenUDP binds the UDP port on every -l address. An explicit port in
// -l applies to UDP as well, as in memcached.
func (s *Server) listenUDP() error {
	addrs, err := ListenAddrs(s.cfg.Listen, bindPort(s.cfg.UDPPort))
	if err != nil {
		return err
	}
	for _, a := range addrs {
		pc, err := net.ListenPacket(listenNetwork("udp", a), a)
		if err != nil {
			return fmt.Errorf("failed to listen on UDP %s: %w", a, err)
		}
		s.markSocket(pc.(*net.UDPConn), a)
		s.udp = append(s.udp, pc.(*net.UDPConn))
		s.totalConns.Add(1) // as memcached counts its UDP connections
	}
	return nil
}

// UDPAddrs returns the bound UDP addresses.
func (s *Server) UDPAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, pc := range s.udp {
		out = append(out, pc.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	return out
}

// udpSink collects what one command answers; the datagram loop frames it.
type udpSink struct{ buf []byte }

func (w *udpSink) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// udpIO is a datagram connection's two directions.
type udpIO struct {
	udpNoMore
	*udpSink
}

// udpNoMore is the input side of a datagram connection: a request must be
// complete in its datagram, so asking for more input ends it.
type udpNoMore struct{}

func (udpNoMore) Read([]byte) (int, error) { return 0, errUDPShort }

var errUDPShort = errors.New("request continues past its datagram")

// serveUDP runs one worker per -t thread on a UDP socket until it is
// closed. As memcached does, each worker reads its own duplicate of the
// socket, so `stats conns` lists one UDP connection per worker.
func (s *Server) serveUDP(pc *net.UDPConn) {
	socks := []*net.UDPConn{pc}
	for range max(s.cfg.Threads, 1) - 1 {
		dup, err := dupUDP(pc)
		if err != nil {
			s.log.Warn("UDP socket not duplicated; fewer workers read it", "listener", pc.LocalAddr(), "err", err)
			break
		}
		socks = append(socks, dup)
	}
	s.mu.Lock()
	s.udpWorkers = append(s.udpWorkers, socks...)
	s.mu.Unlock()
	s.wg.Add(len(socks))
	for _, sock := range socks {
		go s.udpWorker(sock)
	}
}

// dupUDP is a second descriptor of the same socket. net.FilePacketConn
// duplicates the descriptor it is given, so the one handed to it is a
// temporary; it is taken from high up, where closing it leaves no hole
// among the low numbers. Otherwise the first client would get that hole,
// a number below the UDP workers', and `stats conns` would no longer end
// with the newest connection, which clients such as memcached's
// t/watcher_connid.t read to learn their own descriptor.
func dupUDP(pc *net.UDPConn) (*net.UDPConn, error) {
	tmp, err := dupFD(pc, tempFDFloor())
	if err != nil {
		tmp, err = dupFD(pc, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("duplicating UDP socket: %w", err)
	}
	f := os.NewFile(uintptr(tmp), "udp")
	defer f.Close()
	dup, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("duplicating UDP socket: %w", err)
	}
	return dup.(*net.UDPConn), nil
}

// tempFDFloor is where a short-lived descriptor is placed: well above the
// daemon's own, below the open-file limit.
func tempFDFloor() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 64 {
		return 0
	}
	return int(min(lim.Cur/2, 1<<16))
}

func (s *Server) udpWorker(pc *net.UDPConn) {
	defer s.wg.Done()
	sink := &udpSink{}
	c := newConn(s, udpIO{udpNoMore{}, sink})
	c.local = udpAddrText(pc.LocalAddr().(*net.UDPAddr).AddrPort())
	c.id = listenerFD(pc)
	// One datagram after another, never idle: the worker keeps its
	// work buffers rather than taking them per request.
	c.takeWork()
	buf := make([]byte, udpReadBuffer)
	var delay time.Duration
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Error("UDP read failed", "listener", pc.LocalAddr(), "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.serveDatagram(pc, c, sink, buf[:n], from)
	}
}

// serveDatagram answers one request datagram, as memcached does: shorter
// than a header or part of a multi-datagram request is ignored; every
// command in it is answered with its own framed response.
func (s *Server) serveDatagram(pc *net.UDPConn, c *conn, sink *udpSink, d []byte, from netip.AddrPort) {
	peer := from.Addr().Unmap()
	if !s.udpAdmit(peer) {
		s.udpDenied.Add(1)
		if s.verbosity.Load() > 0 {
			s.log.Info("UDP datagram from peer not allowed dropped", "peer", from, "bytes", len(d))
		}
		return
	}
	if len(d) <= udpHeaderSize || d[4] != 0 || d[5] != 1 {
		return
	}
	s.offLoop().bytesRead.Add(uint64(len(d)))
	reqID := binary.BigEndian.Uint16(d)
	c.peerPort = from
	defer func() {
		// As on TCP, a bug hit by one request costs that request, not the daemon.
		if p := recover(); p != nil {
			s.panics.Add(1)
			s.log.Error("panic serving UDP request", "peer", from, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	send := func(resp []byte) {
		// bytes_written already counted the reply when it was flushed.
		for _, f := range udpFrames(reqID, resp) {
			if _, err := pc.WriteToUDPAddrPort(f, from); err != nil {
				s.log.Warn("UDP reply failed", "peer", from, "err", err)
				return
			}
		}
	}
	s.udpCommands(c, sink, d[udpHeaderSize:], send)
}

// udpCommands runs the text protocol over one datagram's payload and hands
// each response unit to send. A command whose data runs past the
// datagram is dropped unanswered (memcached instead carries the half-read
// state into the next datagram, from any peer).
func (s *Server) udpCommands(c *conn, sink *udpSink, payload []byte, send func([]byte)) {
	c.in, c.r, c.w = payload, 0, len(payload)
	c.out, c.closing, c.noreply = c.out[:0], false, false
	// Each datagram chooses its protocol by its first byte, as memcached's
	// UDP connection does under -B auto.
	c.negotiated = false
	if c.binaryMode() {
		s.udpBinary(c, sink, send)
		return
	}
	for !c.closing {
		line, ok, err := c.nextLine()
		if err != nil || !ok {
			return
		}
		keys := getKeys(line)
		isQuit := string(bytes.TrimSpace(line)) == "quit"
		sink.buf = sink.buf[:0]
		c.lastCmd.Store(s.store.Now())
		err = c.dispatch(line)
		c.flush()
		if err != nil {
			return
		}
		switch {
		case keys != nil:
			for _, u := range splitGetReply(sink.buf, keys) {
				send(u)
			}
		case len(sink.buf) > 0 || isQuit:
			// memcached answers quit over UDP with an empty response.
			send(sink.buf)
		}
	}
}

// udpBinary runs the binary requests of one datagram. Each request is a
// response unit of its own, framed on its own: an empty one (a quiet
// command that succeeded, a quiet miss) is a bare header, as memcached
// sends it. A request whose body runs past the datagram is dropped.
func (s *Server) udpBinary(c *conn, sink *udpSink, send func([]byte)) {
	for !c.closing {
		req, extras, key, n, err := protocol.ParseBinary(c.in[c.r:c.w])
		if err != nil || n == 0 {
			return
		}
		c.binReq = req
		c.r += n
		sink.buf = sink.buf[:0]
		c.lastCmd.Store(s.store.Now())
		err = c.dispatchBinary(&c.binReq, extras, key)
		c.flush()
		if err != nil {
			return
		}
		send(sink.buf)
	}
}

// getKeys returns the keys of a get, gets, gat or gats line, nil for other
// commands.
func getKeys(line []byte) [][]byte {
	var toks [][]byte
	for _, t := range bytes.Split(line, []byte{' '}) {
		if len(t) > 0 {
			toks = append(toks, t)
		}
	}
	if len(toks) < 2 {
		return nil
	}
	switch string(toks[0]) {
	case "get", "bget", "gets":
		return toks[1:]
	case "gat", "gats":
		if len(toks) < 3 {
			return nil
		}
		return toks[2:]
	}
	return nil
}

// splitGetReply cuts a get reply into memcached's response units: one per
// requested key (a miss is an empty unit), with END on the last one.
// Anything it does not recognise stays one unit.
func splitGetReply(out []byte, keys [][]byte) [][]byte {
	units := make([][]byte, 0, len(keys))
	pos := 0
	for _, k := range keys {
		start := pos
		if n, ok := valueBlockLen(out[pos:], k); ok {
			pos += n
		}
		units = append(units, out[start:pos])
	}
	if !bytes.Equal(out[pos:], []byte(protocol.ReplyEnd+"\r\n")) {
		return [][]byte{out}
	}
	last := len(units) - 1
	units[last] = out[len(out)-len(units[last])-5:]
	return units
}

// valueBlockLen measures "VALUE key flags bytes [cas]\r\n<data>\r\n" at
// the start of b, when it is for key.
func valueBlockLen(b, key []byte) (int, bool) {
	prefix := len(protocol.ReplyValue) + len(key) + 1
	if len(b) < prefix || !bytes.HasPrefix(b, []byte(protocol.ReplyValue)) || !bytes.Equal(b[6:6+len(key)], key) || b[prefix-1] != ' ' {
		return 0, false
	}
	eol := bytes.Index(b, []byte("\r\n"))
	if eol < 0 {
		return 0, false
	}
	f := bytes.Fields(b[prefix:eol])
	if len(f) < 2 {
		return 0, false
	}
	size, err := strconv.Atoi(string(f[1]))
	if err != nil || size < 0 {
		return 0, false
	}
	n := eol + 2 + size + 2
	return n, n <= len(b)
}

// udpFrames cuts one response into framed datagrams. An empty response is
// a bare header with a total of 0, as memcached sends it.
func udpFrames(reqID uint16, resp []byte) [][]byte {
	total := (len(resp) + udpDataSize - 1) / udpDataSize
	total = min(total, udpMaxDatagrams)
	frames := make([][]byte, 0, max(total, 1))
	seq := 0
	for {
		chunk := resp[:min(len(resp), udpDataSize)]
		f := make([]byte, udpHeaderSize, udpHeaderSize+len(chunk))
		binary.BigEndian.PutUint16(f[0:], reqID)
		binary.BigEndian.PutUint16(f[2:], uint16(seq))
		binary.BigEndian.PutUint16(f[4:], uint16(total))
		frames = append(frames, append(f, chunk...))
		resp = resp[len(chunk):]
		seq++
		if len(resp) == 0 || seq >= total {
			return frames
		}
	}
}

func udpAddrText(ap netip.AddrPort) string {
	if a := ap.Addr().Unmap(); a.Is4() {
		return fmt.Sprintf("udp:%s:%d", a, ap.Port())
	}
	return fmt.Sprintf("udp6:[%s]:%d", ap.Addr(), ap.Port())
}
