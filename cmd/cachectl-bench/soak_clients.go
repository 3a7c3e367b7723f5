package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"
)

// A protoClient checks the binary or meta protocol on keys only it
// writes, so every reply has exactly one right answer: the value it last
// stored, or the counter it has been incrementing. Each cycle stores a
// few keys, reads them back (alone and as a quiet multi-get), reads the
// counter and increments it; reading right after writing keeps the keys
// at the head of the LRU, so even a full cache does not evict them.
type protoClient struct {
	name   string
	id     int
	nc     net.Conn
	r      *bufio.Reader
	rng    *rand.Rand
	seq    uint64
	ctr    uint64 // the counter's value; stored at the first cycle
	ctrSet bool
	t      tally
	out    []byte
}

const protoKeys = 3

func newProtoClient(name string, id int, addr string, seed uint64) (*protoClient, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%s client %d: %w", name, id, err)
	}
	return &protoClient{name: name, id: id, nc: nc, r: bufio.NewReaderSize(nc, 64<<10),
		rng: rand.New(rand.NewPCG(seed, uint64(id)+0x50a6))}, nil
}

func (p *protoClient) key(i int) string { return fmt.Sprintf("soak:%s:%d:%d", p.name, p.id, i) }
func (p *protoClient) ctrKey() string   { return fmt.Sprintf("soak:%s:%d:ctr", p.name, p.id) }

// value is what cycle seq stores under key i: its name and a filler.
func (p *protoClient) value(i int) []byte {
	h := mix(uint64(p.id)<<48 ^ p.seq<<8 ^ uint64(i))
	v := fmt.Appendf(nil, "%s.%d.%d.", p.key(i), p.seq, i)
	for range 16 + int(h%2000) {
		v = append(v, 'a'+byte(h%26))
		h = h*6364136223846793005 + 1442695040888963407
	}
	return v
}

// run cycles until ctx ends or a reply is wrong (the stream can no longer
// be trusted to be in step, as in the load generator).
func (p *protoClient) run(ctx context.Context) {
	defer p.nc.Close()
	stop := context.AfterFunc(ctx, func() { p.nc.SetDeadline(time.Now()) })
	defer stop()
	for ctx.Err() == nil {
		p.seq++
		p.nc.SetDeadline(time.Now().Add(10 * time.Second))
		var msg string
		var err error
		if p.name == "binary" {
			msg, err = p.binaryCycle()
		} else {
			msg, err = p.metaCycle()
		}
		if err != nil {
			if ctx.Err() == nil {
				p.t.fail(fmt.Sprintf("%s client %d: %v", p.name, p.id, err))
			}
			return
		}
		if msg != "" {
			p.t.fail(fmt.Sprintf("%s client %d: %s", p.name, p.id, msg))
			return
		}
	}
}

// Binary protocol opcodes used by the checking client.
const (
	opGet   = 0x00
	opSet   = 0x01
	opIncr  = 0x05
	opNoop  = 0x0a
	opGetKQ = 0x0d
)

func binReq(dst []byte, op byte, key string, extras, value []byte, opaque uint32) []byte {
	var h [24]byte
	h[0] = 0x80
	h[1] = op
	binary.BigEndian.PutUint16(h[2:], uint16(len(key)))
	h[4] = byte(len(extras))
	binary.BigEndian.PutUint32(h[8:], uint32(len(extras)+len(key)+len(value)))
	binary.BigEndian.PutUint32(h[12:], opaque)
	dst = append(dst, h[:]...)
	dst = append(dst, extras...)
	dst = append(dst, key...)
	return append(dst, value...)
}

// binResp is one binary response.
type binResp struct {
	op             byte
	status         uint16
	opaque         uint32
	extras, key, v []byte
}

func (p *protoClient) readBin() (binResp, error) {
	var h [24]byte
	if _, err := io.ReadFull(p.r, h[:]); err != nil {
		return binResp{}, err
	}
	if h[0] != 0x81 {
		return binResp{}, fmt.Errorf("response magic 0x%02x", h[0])
	}
	kl, el, bl := int(binary.BigEndian.Uint16(h[2:])), int(h[4]), int(binary.BigEndian.Uint32(h[8:]))
	if bl > 1<<20 || kl+el > bl {
		return binResp{}, fmt.Errorf("response lengths key %d extras %d body %d", kl, el, bl)
	}
	body := make([]byte, bl)
	if _, err := io.ReadFull(p.r, body); err != nil {
		return binResp{}, err
	}
	return binResp{op: h[1], status: binary.BigEndian.Uint16(h[6:]), opaque: binary.BigEndian.Uint32(h[12:]),
		extras: body[:el], key: body[el : el+kl], v: body[el+kl:]}, nil
}

func (p *protoClient) binaryCycle() (string, error) {
	vals := make([][]byte, protoKeys)
	p.out = p.out[:0]
	for i := range vals {
		vals[i] = p.value(i)
		ex := binary.BigEndian.AppendUint32(nil, uint32(p.seq))
		ex = binary.BigEndian.AppendUint32(ex, 0)
		p.out = binReq(p.out, opSet, p.key(i), ex, vals[i], uint32(i))
	}
	p.out = binReq(p.out, opGet, p.key(0), nil, nil, 100)
	for i := range vals { // a quiet multi-get, ended by a noop; one key is missing
		p.out = binReq(p.out, opGetKQ, p.key(i), nil, nil, uint32(200+i))
	}
	p.out = binReq(p.out, opGetKQ, p.key(99), nil, nil, 299)
	p.out = binReq(p.out, opNoop, "", nil, nil, 300)
	delta := 1 + p.rng.Uint64N(1000)
	ex := binary.BigEndian.AppendUint64(nil, delta)
	ex = binary.BigEndian.AppendUint64(ex, 7) // initial value, used on the first cycle
	ex = binary.BigEndian.AppendUint32(ex, 0)
	p.out = binReq(p.out, opIncr, p.ctrKey(), ex, nil, 400)
	if _, err := p.nc.Write(p.out); err != nil {
		return "", err
	}
	p.t.ops += protoKeys + 1 + protoKeys + 1 + 1 + 1
	for i := range vals {
		r, err := p.readBin()
		if err != nil {
			return "", err
		}
		if r.op != opSet || r.status != 0 || r.opaque != uint32(i) {
			return fmt.Sprintf("set %s: op 0x%02x status %d opaque %d", p.key(i), r.op, r.status, r.opaque), nil
		}
		p.t.sets++
	}
	r, err := p.readBin()
	if err != nil {
		return "", err
	}
	if msg := checkBinValue(r, opGet, 100, vals[0], uint32(p.seq)); msg != "" {
		return "get " + p.key(0) + ": " + msg, nil
	}
	for i := range vals {
		r, err := p.readBin()
		if err != nil {
			return "", err
		}
		if msg := checkBinValue(r, opGetKQ, uint32(200+i), vals[i], uint32(p.seq)); msg != "" {
			return "getkq " + p.key(i) + ": " + msg, nil
		}
		if string(r.key) != p.key(i) {
			return fmt.Sprintf("getkq %s: key %q in the reply", p.key(i), r.key), nil
		}
	}
	p.t.gets += 1 + protoKeys + 1
	p.t.hits += 1 + protoKeys
	if r, err = p.readBin(); err != nil {
		return "", err
	}
	if r.op != opNoop || r.opaque != 300 {
		return fmt.Sprintf("quiet multi-get: expected the noop, got op 0x%02x opaque %d status %d", r.op, r.opaque, r.status), nil
	}
	if r, err = p.readBin(); err != nil {
		return "", err
	}
	want := p.ctr + delta
	if !p.ctrSet {
		want = 7
	}
	if r.op != opIncr || r.status != 0 || len(r.v) != 8 || binary.BigEndian.Uint64(r.v) != want {
		return fmt.Sprintf("incr %s by %d: op 0x%02x status %d value %x, want %d", p.ctrKey(), delta, r.op, r.status, r.v, want), nil
	}
	p.ctr, p.ctrSet = want, true
	return "", nil
}

func checkBinValue(r binResp, op byte, opaque uint32, want []byte, flags uint32) string {
	switch {
	case r.op != op || r.opaque != opaque:
		return fmt.Sprintf("reply op 0x%02x opaque %d, want op 0x%02x opaque %d", r.op, r.opaque, op, opaque)
	case r.status != 0:
		return fmt.Sprintf("status 0x%x (%q) for a key just stored", r.status, clip(r.v))
	case len(r.extras) != 4 || binary.BigEndian.Uint32(r.extras) != flags:
		return fmt.Sprintf("flags extras %x, want %d", r.extras, flags)
	case !bytes.Equal(r.v, want):
		return fmt.Sprintf("value %q, want %q", clip(r.v), clip(want))
	}
	return ""
}

// metaCycle stores with ms, reads back with mg (value, flags, key), reads a
// missing key, and keeps a counter with classic set/incr read back by mg.
func (p *protoClient) metaCycle() (string, error) {
	vals := make([][]byte, protoKeys)
	p.out = p.out[:0]
	for i := range vals {
		vals[i] = p.value(i)
		p.out = fmt.Appendf(p.out, "ms %s %d F%d T0\r\n", p.key(i), len(vals[i]), p.seq)
		p.out = append(append(p.out, vals[i]...), "\r\n"...)
	}
	for i := range vals {
		p.out = fmt.Appendf(p.out, "mg %s v f k\r\n", p.key(i))
	}
	p.out = fmt.Appendf(p.out, "mg %s v\r\nmn\r\n", p.key(99))
	delta := 1 + p.rng.Uint64N(1000)
	if !p.ctrSet {
		p.out = fmt.Appendf(p.out, "set %s 0 0 1\r\n7\r\n", p.ctrKey())
	} else {
		p.out = fmt.Appendf(p.out, "mg %s v\r\n", p.ctrKey())
	}
	p.out = fmt.Appendf(p.out, "incr %s %d\r\n", p.ctrKey(), delta)
	if _, err := p.nc.Write(p.out); err != nil {
		return "", err
	}
	p.t.ops += 2*protoKeys + 4
	for i := range vals {
		if msg, err := p.expectLine("ms "+p.key(i), "HD\r\n"); msg != "" || err != nil {
			return msg, err
		}
		p.t.sets++
	}
	for i := range vals {
		want := fmt.Sprintf("VA %d f%d k%s\r\n", len(vals[i]), p.seq, p.key(i))
		if msg, err := p.expectLine("mg "+p.key(i), want); msg != "" || err != nil {
			return msg, err
		}
		if msg, err := p.expectData("mg "+p.key(i), vals[i]); msg != "" || err != nil {
			return msg, err
		}
		p.t.gets++
		p.t.hits++
	}
	if msg, err := p.expectLine("mg of a missing key", "EN\r\n"); msg != "" || err != nil {
		return msg, err
	}
	if msg, err := p.expectLine("mn", "MN\r\n"); msg != "" || err != nil {
		return msg, err
	}
	if !p.ctrSet {
		if msg, err := p.expectLine("set "+p.ctrKey(), "STORED\r\n"); msg != "" || err != nil {
			return msg, err
		}
		p.ctr, p.ctrSet = 7, true
	} else {
		cur := strconv.FormatUint(p.ctr, 10)
		if msg, err := p.expectLine("mg "+p.ctrKey(), fmt.Sprintf("VA %d\r\n", len(cur))); msg != "" || err != nil {
			return msg, err
		}
		if msg, err := p.expectData("mg "+p.ctrKey(), []byte(cur)); msg != "" || err != nil {
			return msg, err
		}
	}
	p.ctr += delta
	return p.expectLine(fmt.Sprintf("incr %s %d", p.ctrKey(), delta), strconv.FormatUint(p.ctr, 10)+"\r\n")
}

func (p *protoClient) expectLine(what, want string) (string, error) {
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	if string(line) != want {
		return fmt.Sprintf("%s: got %q, want %q", what, clip(line), want), nil
	}
	return "", nil
}

func (p *protoClient) expectData(what string, want []byte) (string, error) {
	buf := make([]byte, len(want)+2)
	if _, err := io.ReadFull(p.r, buf); err != nil {
		return "", err
	}
	if !bytes.Equal(buf[:len(want)], want) || buf[len(want)] != '\r' || buf[len(want)+1] != '\n' {
		return fmt.Sprintf("%s: data %q, want %q", what, clip(buf), clip(want)), nil
	}
	return "", nil
}

// checkedClients are the well-behaved clients of a soak run.
type checkedClients struct {
	wg     sync.WaitGroup
	loads  []*loadRun
	protos []*protoClient
}

// loadRun is one load-generator run (text protocol) inside the soak.
type loadRun struct {
	name string
	cfg  loadConfig
	res  *loadResult
	err  error
}

// startCheckedClients starts the text load generators (100k keys of up to
// 2 KB: more than -m 64 holds, so the cache fills and evicts) and the
// binary and meta clients; all run until ctx ends (limit bounds them).
func startCheckedClients(ctx context.Context, addr string, seed uint64, limit time.Duration) (*checkedClients, error) {
	base := loadConfig{Addr: addr, Conns: 4, GetRatio: 0.8, MinSize: 64, MaxSize: 2048, Keys: 100_000,
		Pipeline: 1, MultiGet: 1, Duration: limit, Seed: seed, ValueSeed: seed, Timeout: 5 * time.Second}
	mget, ttl := base, base
	mget.Conns, mget.GetRatio, mget.Pipeline, mget.MultiGet, mget.Seed = 2, 0.9, 8, 8, seed+1
	ttl.Conns, ttl.GetRatio, ttl.TTLMin, ttl.TTLMax, ttl.Seed = 2, 0.5, 1, 5, seed+2
	cc := &checkedClients{loads: []*loadRun{
		{name: "text get/set (4 conns)", cfg: base},
		{name: "text 8-key multi-gets, pipelined 8 deep (2 conns)", cfg: mget},
		{name: "text TTL 1-5 s churn (2 conns)", cfg: ttl},
	}}
	for _, name := range []string{"binary", "meta"} {
		for i := range 2 {
			p, err := newProtoClient(name, i, addr, seed)
			if err != nil {
				for _, q := range cc.protos {
					q.nc.Close()
				}
				return nil, err
			}
			cc.protos = append(cc.protos, p)
		}
	}
	for _, l := range cc.loads {
		cc.wg.Go(func() { l.res, l.err = runLoad(ctx, l.cfg) })
	}
	for _, p := range cc.protos {
		cc.wg.Go(func() { p.run(ctx) })
	}
	return cc, nil
}

// wait returns each client group's requests and wrong replies once all
// have stopped.
func (cc *checkedClients) wait() []soakClientCount {
	cc.wg.Wait()
	var out []soakClientCount
	for _, l := range cc.loads {
		c := soakClientCount{Name: l.name}
		switch {
		case l.err != nil:
			c.Wrong = 1
		case l.res != nil:
			c.Requests, c.Wrong = l.res.Ops, l.res.Errors
		}
		out = append(out, c)
	}
	names := map[string]string{"binary": "binary set/get/getkq+noop/incr (2 conns)", "meta": "meta ms/mg/mn + set/incr (2 conns)"}
	for _, name := range []string{"binary", "meta"} {
		c := soakClientCount{Name: names[name]}
		for _, p := range cc.protos {
			if p.name == name {
				c.Requests += p.t.ops
				c.Wrong += p.t.errors
			}
		}
		out = append(out, c)
	}
	return out
}

// firstWrong is the first wrong reply any client saw ("" if none).
func (cc *checkedClients) firstWrong() string {
	for _, l := range cc.loads {
		if l.err != nil {
			return l.name + ": " + l.err.Error()
		}
		if l.res != nil && l.res.FirstError != "" {
			return l.name + ": " + l.res.FirstError
		}
	}
	for _, p := range cc.protos {
		if p.t.firstErr != "" {
			return p.t.firstErr
		}
	}
	return ""
}
