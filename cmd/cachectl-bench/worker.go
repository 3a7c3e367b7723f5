package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// request is one command in a batch: a get of keys, or a set of keys[0].
type request struct {
	get  bool
	keys []uint32
}

// worker owns one connection; it sends a batch (pipeline depth commands
// in one write), then reads and checks every reply before the next.
type worker struct {
	id    int
	nc    net.Conn
	r     *bufio.Reader
	cfg   *loadConfig
	cd    *codec
	t     *tally
	rng   *rand.Rand
	keys  keyChooser
	ver   uint64
	out   []byte
	val   []byte
	reqs  []request
	keyAt []uint32 // backing store for reqs' keys
	// refill holds the keys a cache-aside run missed, set in the next
	// batch (at most one batch's worth: gets are single-key).
	refill []uint32
}

func newWorker(id int, nc net.Conn, cfg *loadConfig, cd *codec, t *tally) *worker {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(id)+1))
	rbuf := cfg.ReadBuffer
	if rbuf <= 0 {
		rbuf = 64 << 10
	}
	return &worker{
		id: id, nc: nc, r: bufio.NewReaderSize(nc, rbuf), cfg: cfg, cd: cd, t: t, rng: rng,
		keys:  newKeyChooser(rng, cfg.Keys, cfg.Zipf),
		ver:   uint64(id) << 34,
		reqs:  make([]request, cfg.Pipeline),
		keyAt: make([]uint32, cfg.Pipeline*cfg.MultiGet),
		val:   make([]byte, cfg.MaxSize+2),
	}
}

func (w *worker) run(ctx context.Context, budget *atomic.Int64) {
	var interval time.Duration
	var next time.Time
	pace := time.NewTimer(time.Hour)
	defer pace.Stop()
	if w.cfg.Rate > 0 {
		// Each connection's share of the rate, its start staggered so
		// the connections do not send in lockstep.
		interval = time.Duration(float64(w.cfg.Conns*w.cfg.Pipeline) / w.cfg.Rate * 1e9)
		next = time.Now().Add(interval * time.Duration(w.id) / time.Duration(w.cfg.Conns))
	}
	for ctx.Err() == nil {
		if budget.Add(-int64(w.cfg.Pipeline)) < 0 {
			return
		}
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				pace.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
			}
		}
		if !w.batch(ctx, next) {
			return
		}
		next = next.Add(interval)
	}
}

// batch sends one batch and checks its replies; false ends the worker.
// Its latency counts from scheduled, or from now when that is zero.
func (w *worker) batch(ctx context.Context, scheduled time.Time) bool {
	now := time.Now()
	if scheduled.IsZero() {
		scheduled = now
	}
	w.build(now)
	if err := w.nc.SetDeadline(now.Add(w.cfg.Timeout)); err != nil {
		return w.ioFailed(ctx, err)
	}
	if _, err := w.nc.Write(w.out); err != nil {
		return w.ioFailed(ctx, err)
	}
	for i := range w.reqs {
		var msg string
		var err error
		if w.reqs[i].get {
			msg, err = w.readGet(w.reqs[i].keys)
		} else {
			msg, err = w.readSet()
		}
		if err != nil {
			return w.ioFailed(ctx, err)
		}
		if msg != "" {
			w.t.fail(msg)
			return false
		}
	}
	w.t.lat.record(time.Since(scheduled))
	return true
}

func (w *worker) ioFailed(ctx context.Context, err error) bool {
	if ctx.Err() == nil {
		w.t.fail(fmt.Sprintf("connection %d: %v", w.id, err))
	}
	return false
}

// build fills w.out with the next batch of commands.
func (w *worker) build(now time.Time) {
	w.out = w.out[:0]
	ka := w.keyAt[:0]
	for i := range w.reqs {
		if n := len(w.refill); n > 0 {
			k := w.refill[n-1]
			w.refill = w.refill[:n-1]
			ka = append(ka, k)
			w.reqs[i] = request{keys: ka[len(ka)-1 : len(ka) : len(ka)]}
			w.out = w.appendSet(w.out, k, now)
			continue
		}
		if w.cfg.CacheAside || w.rng.Float64() < w.cfg.GetRatio {
			start := len(ka)
			w.out = append(w.out, "get"...)
			for range w.cfg.MultiGet {
				k := w.getKey()
				ka = append(ka, k)
				w.out = append(w.out, ' ')
				w.out = appendKey(w.out, k)
			}
			w.out = append(w.out, "\r\n"...)
			w.reqs[i] = request{get: true, keys: ka[start:len(ka):len(ka)]}
			continue
		}
		k := w.setKey()
		ka = append(ka, k)
		w.reqs[i] = request{keys: ka[len(ka)-1 : len(ka) : len(ka)]}
		w.out = w.appendSet(w.out, k, now)
	}
	w.keyAt = ka
}

// getKey is the key a get reads: with Insert, one of the Keys inserted
// last (some other connection's set of the newest may still be in
// flight, so a rare miss is allowed).
func (w *worker) getKey() uint32 {
	if !w.cfg.Insert {
		return w.keys.next()
	}
	hi := w.cfg.inserted.Load()
	return uint32(hi - 1 - w.rng.Uint64N(min(hi, uint64(w.cfg.Keys))))
}

// setKey is the key a set stores: with Insert, the next one never stored.
func (w *worker) setKey() uint32 {
	if !w.cfg.Insert {
		return w.keys.next()
	}
	return uint32(w.cfg.inserted.Add(1) - 1)
}

func (w *worker) appendSet(dst []byte, k uint32, now time.Time) []byte {
	w.ver++
	ttl := w.cfg.TTLMin
	if w.cfg.TTLMax > w.cfg.TTLMin {
		ttl += w.rng.IntN(w.cfg.TTLMax - w.cfg.TTLMin + 1)
	}
	var deadline int64
	if ttl > 0 {
		deadline = now.UnixMilli() + int64(ttl)*1000
	}
	var flags uint32
	w.val, flags = w.cd.appendValue(w.val[:0], k, w.ver, deadline)
	dst = append(dst, "set "...)
	dst = appendKey(dst, k)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(flags), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(ttl), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(w.val)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, w.val...)
	return append(dst, "\r\n"...)
}

func (w *worker) readSet() (string, error) {
	line, err := w.r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	w.t.ops++
	w.t.keys++
	w.t.sets++
	if !w.t.stored(line) {
		return fmt.Sprintf("set: expected STORED, got %q", clip(line)), nil
	}
	return "", nil
}

// stored reports whether line is an acceptable answer to a set. Besides
// STORED, memcached refuses a set when the items at its LRU tails are all
// in use (W6's 1 KB sets into -m 64 see a few, as may an overfilled
// preload) and drops the key's old value: an answer the protocol allows,
// not a wrong one. It is counted apart, so a server that refuses shows it.
func (t *tally) stored(line []byte) bool {
	switch {
	case bytes.Equal(line, []byte("STORED\r\n")):
		return true
	case bytes.Equal(line, []byte("SERVER_ERROR out of memory storing object\r\n")):
		t.refused++
		return true
	}
	return false
}

// readGet reads VALUE blocks up to END. Hits must come in request order
// (memcached's order); keys skipped over are misses.
func (w *worker) readGet(keys []uint32) (string, error) {
	w.t.ops++
	w.t.keys += int64(len(keys))
	w.t.gets += int64(len(keys))
	next := 0
	for {
		line, err := w.r.ReadSlice('\n')
		if err != nil {
			return "", err
		}
		if bytes.Equal(line, []byte("END\r\n")) {
			break
		}
		k, flags, n, msg := parseValueLine(line)
		if msg != "" {
			return msg, nil
		}
		for next < len(keys) && keys[next] != k {
			w.missed(keys[next])
			next++
		}
		if next == len(keys) {
			return fmt.Sprintf("get: reply for key %d which was not requested (or out of order): %q", k, clip(line)), nil
		}
		next++
		if n > w.cfg.MaxSize {
			return fmt.Sprintf("get key %d: %d-byte value, longer than any stored (%d)", k, n, w.cfg.MaxSize), nil
		}
		buf := w.val[:n+2]
		if _, err := io.ReadFull(w.r, buf); err != nil {
			return "", err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return fmt.Sprintf("get key %d: data block not terminated by CRLF", k), nil
		}
		if msg := w.cd.check(k, flags, buf[:n], time.Now().UnixMilli()); msg != "" {
			return msg, nil
		}
		w.t.hits++
	}
	for _, k := range keys[next:] {
		w.missed(k)
	}
	if w.cfg.StrictHits && w.t.hits != w.t.gets {
		return fmt.Sprintf("get: a miss where nothing can have been evicted or expired (keys %v)", keys), nil
	}
	return "", nil
}

// missed queues a cache-aside refill of a key a get did not find.
func (w *worker) missed(k uint32) {
	if w.cfg.CacheAside {
		w.refill = append(w.refill, k)
	}
}

// parseValueLine parses "VALUE key:N flags bytes [cas]\r\n".
func parseValueLine(line []byte) (key uint32, flags uint32, n int, msg string) {
	bad := func() (uint32, uint32, int, string) {
		return 0, 0, 0, fmt.Sprintf("get: expected VALUE or END, got %q", clip(line))
	}
	rest, ok := bytes.CutPrefix(line, []byte("VALUE key:"))
	if !ok {
		return bad()
	}
	rest, ok = bytes.CutSuffix(rest, []byte("\r\n"))
	if !ok {
		return bad()
	}
	var fa [5][]byte
	f := splitSpaces(fa[:0], rest)
	if len(f) != 3 && len(f) != 4 {
		return bad()
	}
	k, ok1 := parseUint(f[0])
	fl, ok2 := parseUint(f[1])
	sz, ok3 := parseUint(f[2])
	if !ok1 || !ok2 || !ok3 || k > 1<<32-1 || fl > 1<<32-1 || sz > 1<<30 {
		return bad()
	}
	return uint32(k), uint32(fl), int(sz), ""
}

// splitSpaces splits on single spaces into dst without allocating (up to
// cap(dst) fields; more make the result longer than any valid line).
func splitSpaces(dst [][]byte, b []byte) [][]byte {
	for len(b) > 0 && len(dst) < cap(dst) {
		i := bytes.IndexByte(b, ' ')
		if i < 0 {
			return append(dst, b)
		}
		dst = append(dst, b[:i])
		b = b[i+1:]
	}
	if len(b) > 0 {
		dst = append(dst[:cap(dst)-1], b)
	}
	return dst
}
