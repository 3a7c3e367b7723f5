package cached

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// Helpers to speak the binary protocol in tests and to run the same
// packets against this daemon and the reference memcached 1.6.18.

// pkt is a binary request or response.
type pkt struct {
	magic   uint8
	opcode  uint8
	status  uint16 // responses (the vbucket field of requests)
	opaque  uint32
	cas     uint64
	extlen  int // when >= 0 overrides len(extras) in the header (malformed requests)
	keylen  int // likewise for len(key)
	bodylen int // likewise for the body length
	extras  []byte
	key     []byte
	value   []byte
}

func (p pkt) String() string {
	return fmt.Sprintf("{op=%#02x status=%#02x opaque=%d extras=%x key=%q value=%q}",
		p.opcode, p.status, p.opaque, p.extras, p.key, p.value)
}

// req builds a well-formed request.
func req(op uint8, key string, extras []byte, value string) pkt {
	return pkt{magic: binMagicReq, opcode: op, extlen: -1, keylen: -1, bodylen: -1,
		extras: extras, key: []byte(key), value: []byte(value)}
}

func (p pkt) withCAS(cas uint64) pkt { p.cas = cas; return p }

func (p pkt) bytes() []byte {
	ext, kl, bl := len(p.extras), len(p.key), len(p.extras)+len(p.key)+len(p.value)
	if p.extlen >= 0 {
		ext = p.extlen
	}
	if p.keylen >= 0 {
		kl = p.keylen
	}
	if p.bodylen >= 0 {
		bl = p.bodylen
	}
	b := make([]byte, binHeaderLen, binHeaderLen+len(p.extras)+len(p.key)+len(p.value))
	b[0] = p.magic
	b[1] = p.opcode
	binary.BigEndian.PutUint16(b[2:], uint16(kl))
	b[4] = uint8(ext)
	binary.BigEndian.PutUint16(b[6:], p.status)
	binary.BigEndian.PutUint32(b[8:], uint32(bl))
	binary.BigEndian.PutUint32(b[12:], p.opaque)
	binary.BigEndian.PutUint64(b[16:], p.cas)
	b = append(b, p.extras...)
	b = append(b, p.key...)
	return append(b, p.value...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func setExtras(flags, exp uint32) []byte { return append(u32(flags), u32(exp)...) }

func arithExtras(delta, initial uint64, exp uint32) []byte {
	b := binary.BigEndian.AppendUint64(nil, delta)
	b = binary.BigEndian.AppendUint64(b, initial)
	return append(b, u32(exp)...)
}

// readPkt reads one response packet.
func readPkt(r io.Reader) (pkt, error) {
	var h [binHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return pkt{}, err
	}
	p := pkt{magic: h[0], opcode: h[1], status: binary.BigEndian.Uint16(h[6:]),
		opaque: binary.BigEndian.Uint32(h[12:]), cas: binary.BigEndian.Uint64(h[16:])}
	kl, ext, bl := int(binary.BigEndian.Uint16(h[2:])), int(h[4]), int(binary.BigEndian.Uint32(h[8:]))
	if bl < kl+ext || bl > 4<<20 {
		return p, fmt.Errorf("response header %x: impossible lengths", h)
	}
	body := make([]byte, bl)
	if _, err := io.ReadFull(r, body); err != nil {
		return p, err
	}
	p.extras, p.key, p.value = body[:ext], body[ext:ext+kl], body[ext+kl:]
	return p, nil
}

// fence is the Noop sent after each binStep: its reply marks the binStep's end.
const fenceOpaque = 0xfe11ce

// exchange sends one binStep's bytes plus a fence Noop and returns the
// responses before the fence; closed reports that the server hung up.
func exchange(t *testing.T, nc net.Conn, send []byte) (out []pkt, closed bool) {
	t.Helper()
	fence := req(opNoop, "", nil, "")
	fence.opaque = fenceOpaque
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(append(append([]byte{}, send...), fence.bytes()...)); err != nil {
		return nil, true
	}
	for range 10000 {
		p, err := readPkt(nc)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isConnError(err) {
				return out, true
			}
			t.Fatalf("reading response: %v (so far %v)", err, out)
		}
		if p.opcode == opNoop && p.opaque == fenceOpaque {
			return out, false
		}
		out = append(out, p)
	}
	t.Fatal("no fence reply after 10000 packets")
	return nil, false
}

func isConnError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// startInProcess runs this daemon in-process on a free loopback port.
func startInProcess(t testing.TB, mutate func(*Config)) (*Server, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Port = freePort(t)
	if mutate != nil {
		mutate(&cfg)
	}
	srv := serveConfig(t, cfg, nil)
	return srv, srv.Addrs()[0].String()
}

// memcachedAddr runs the reference memcached 1.6.18 for the test's
// lifetime and returns its address.
func memcachedAddr(t testing.TB, args ...string) string {
	t.Helper()
	return startMemcached(t, args...).addr
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}
