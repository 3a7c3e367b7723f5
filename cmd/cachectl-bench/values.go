package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// A value is self-describing so that a GET hit can be verified without
// the client remembering what it stored: its header names the key index,
// the writer's version and the expiry deadline, and everything else
// (length, flags, filler bytes) is derived from (key, version). Any
// version is acceptable for a key, since concurrent writers race, but the
// value must be exactly the one some writer produced for that key.
//
// Header: 8 hex key index, '.', 12 hex version, '.', 11 hex expiry
// deadline in Unix ms (0 = none), '.'; then filler.
const headerLen = 8 + 1 + 12 + 1 + 11 + 1

// minValueSize leaves room for the header.
const minValueSize = headerLen + 8

// fillerPool is the source of filler bytes; a value's filler is a window
// into it at an offset derived from (key, version), so generating and
// checking a value is a copy and a compare, not a hash per byte.
const fillerPool = 1 << 16

// codec derives and checks values. It is immutable and shared.
type codec struct {
	seed       uint64
	minSize    int
	maxSize    int
	fixed      bool   // one value per key, no header (newFixedCodec)
	filler     []byte // fillerPool + maxSize bytes
	expirySlop int64  // ms a server may serve an item past its deadline
}

func newCodec(seed uint64, minSize, maxSize int) (*codec, error) {
	if minSize < minValueSize || maxSize < minSize {
		return nil, fmt.Errorf("value size %d..%d: need %d <= min <= max (the self-checking header takes %d bytes)",
			minSize, maxSize, minValueSize, headerLen)
	}
	return newFiller(seed, minSize, maxSize), nil
}

// newFixedCodec derives exactly one value per key, version 0 and no TTL,
// with no header, so values can be as short as one byte: what a
// cache-aside client stores, reading the same record from its database
// after every miss. Length, flags and bytes still derive from the key, so
// a wrong value is caught.
func newFixedCodec(seed uint64, minSize, maxSize int) (*codec, error) {
	if minSize < 1 || maxSize < minSize {
		return nil, fmt.Errorf("value size %d..%d: need 1 <= min <= max", minSize, maxSize)
	}
	c := newFiller(seed, minSize, maxSize)
	c.fixed = true
	return c, nil
}

func newFiller(seed uint64, minSize, maxSize int) *codec {
	r := rand.New(rand.NewPCG(seed, 0x6d656d6361636865))
	f := make([]byte, fillerPool+maxSize)
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := range f {
		f[i] = alphabet[r.IntN(len(alphabet))]
	}
	// memcached's clock ticks once a second and checks expiry against that
	// coarse clock, so an item may live up to ~2 s past its TTL; allow 3 s.
	return &codec{seed: seed, minSize: minSize, maxSize: maxSize, filler: f, expirySlop: 3000}
}

// mix is splitmix64's finaliser: a cheap, well-spread hash.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (c *codec) hash(key uint32, ver uint64) uint64 {
	return mix(c.seed ^ mix(uint64(key)<<40^ver))
}

// size is the value length for (key, version).
func (c *codec) size(h uint64) int {
	if c.maxSize == c.minSize {
		return c.minSize
	}
	return c.minSize + int(h%uint64(c.maxSize-c.minSize+1))
}

// flags are derived too, so a server mixing up flags is caught.
func flagsOf(h uint64) uint32 { return uint32(h >> 32) }

// appendValue appends the value for (key, ver, deadline) to dst and
// returns it with the flags to send.
// A fixed codec ignores ver and deadlineMs: its callers store neither.
func (c *codec) appendValue(dst []byte, key uint32, ver uint64, deadlineMs int64) ([]byte, uint32) {
	if c.fixed {
		h := c.hash(key, 0)
		off := int(h>>20) % fillerPool
		return append(dst, c.filler[off:off+c.size(h)]...), flagsOf(h)
	}
	h := c.hash(key, ver)
	n := c.size(h)
	dst = appendHex(dst, uint64(key), 8)
	dst = append(dst, '.')
	dst = appendHex(dst, ver, 12)
	dst = append(dst, '.')
	dst = appendHex(dst, uint64(deadlineMs), 11)
	dst = append(dst, '.')
	off := int(h>>20) % fillerPool
	dst = append(dst, c.filler[off:off+n-headerLen]...)
	return dst, flagsOf(h)
}

// check verifies a value returned for key with the given flags at
// nowMs. It returns a description of what is wrong, or "".
func (c *codec) check(key uint32, flags uint32, v []byte, nowMs int64) string {
	if c.fixed {
		return c.checkFixed(key, flags, v)
	}
	if len(v) < headerLen || v[8] != '.' || v[21] != '.' || v[33] != '.' {
		return fmt.Sprintf("value for key %d has no valid header: %q", key, clip(v))
	}
	k, ok1 := parseHex(v[:8])
	ver, ok2 := parseHex(v[9:21])
	dl, ok3 := parseHex(v[22:33])
	if !ok1 || !ok2 || !ok3 {
		return fmt.Sprintf("value for key %d has a malformed header: %q", key, clip(v))
	}
	if uint32(k) != key {
		return fmt.Sprintf("GET key %d returned the value of key %d", key, k)
	}
	h := c.hash(key, ver)
	if n := c.size(h); len(v) != n {
		return fmt.Sprintf("key %d version %d: value length %d, stored %d", key, ver, len(v), n)
	}
	if f := flagsOf(h); f != flags {
		return fmt.Sprintf("key %d version %d: flags %d, stored %d", key, ver, flags, f)
	}
	off := int(h>>20) % fillerPool
	if !bytes.Equal(v[headerLen:], c.filler[off:off+len(v)-headerLen]) {
		return fmt.Sprintf("key %d version %d: value bytes differ from what was stored", key, ver)
	}
	if dl != 0 && nowMs > int64(dl)+c.expirySlop {
		return fmt.Sprintf("key %d version %d: served %d ms after its TTL expired", key, ver, nowMs-int64(dl))
	}
	return ""
}

func (c *codec) checkFixed(key uint32, flags uint32, v []byte) string {
	h := c.hash(key, 0)
	off := int(h>>20) % fillerPool
	switch {
	case len(v) != c.size(h):
		return fmt.Sprintf("key %d: value length %d, stored %d", key, len(v), c.size(h))
	case flags != flagsOf(h):
		return fmt.Sprintf("key %d: flags %d, stored %d", key, flags, flagsOf(h))
	case !bytes.Equal(v, c.filler[off:off+len(v)]):
		return fmt.Sprintf("key %d: value bytes differ from what was stored", key)
	}
	return ""
}

func appendHex(dst []byte, v uint64, width int) []byte {
	const digits = "0123456789abcdef"
	for i := width - 1; i >= 0; i-- {
		dst = append(dst, digits[(v>>(4*uint(i)))&0xf])
	}
	return dst
}

func parseHex(b []byte) (uint64, bool) {
	var v uint64
	for _, ch := range b {
		switch {
		case ch >= '0' && ch <= '9':
			v = v<<4 | uint64(ch-'0')
		case ch >= 'a' && ch <= 'f':
			v = v<<4 | uint64(ch-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// parseUint parses a decimal field of a reply line without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		v = v*10 + uint64(ch-'0')
	}
	return v, true
}

// keyName is the wire key for index i, as in the anchors' runs ("key:N").
func appendKey(dst []byte, i uint32) []byte {
	dst = append(dst, "key:"...)
	return strconv.AppendUint(dst, uint64(i), 10)
}

// clip shortens a byte string for an error message.
func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
