package store

import (
	"bytes"
	"strconv"
	"testing"
)

// BenchmarkStoreSet is the set path alone: one key rewritten, as the
// protocol benchmark does, without sockets or parsing.
func BenchmarkStoreSet(b *testing.B) {
	s, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	key, val := []byte("key:1"), bytes.Repeat([]byte("v"), 100)
	var segs [][]byte
	b.ReportAllocs()
	for b.Loop() {
		p, err := s.Alloc(key, 0, 0, len(val))
		if err != nil {
			b.Fatal(err)
		}
		segs = s.Value(p, segs[:0])
		copy(segs[0], val)
		s.Commit(p, ModeSet, 0)
	}
}

// BenchmarkStoreGetHit is the get path alone.
func BenchmarkStoreGetHit(b *testing.B) {
	s, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	key, val := []byte("key:1"), bytes.Repeat([]byte("v"), 100)
	p, _ := s.Alloc(key, 0, 0, len(val))
	copy(s.Value(p, nil)[0], val)
	s.Commit(p, ModeSet, 0)
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		dst, _, _ = s.Get(dst[:0], key)
	}
}

// BenchmarkStoreGetMiss is a get of a key the store does not hold, with
// enough others held that the index probes a realistic cluster.
func BenchmarkStoreGetMiss(b *testing.B) {
	s, keys := benchFilled(b, 1<<20)
	defer s.Close()
	miss := []byte("absent:0000000")
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		miss[len(miss)-1] = byte('0' + i%10)
		i++
		dst, _, _ = s.Get(dst[:0], miss)
	}
	_ = keys
}

// BenchmarkStoreGetHitMany reads keys spread over a million held items,
// so the index and item headers are mostly out of cache, as in a real
// cache.
func BenchmarkStoreGetHitMany(b *testing.B) {
	s, keys := benchFilled(b, 1<<20)
	defer s.Close()
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst, _, _ = s.Get(dst[:0], keys[(i*7919)&(len(keys)-1)])
		i++
	}
}

// benchFilled is a store holding n items of 100 bytes, and their keys.
func benchFilled(b *testing.B, n int) (*Store, [][]byte) {
	b.Helper()
	cfg := DefaultConfig()
	cfg.MemoryLimit = 512 << 20
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	val := bytes.Repeat([]byte("v"), 100)
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte("key:" + strconv.Itoa(i))
		p, err := s.Alloc(keys[i], 0, 0, len(val))
		if err != nil {
			b.Fatal(err)
		}
		copy(s.Value(p, nil)[0], val)
		s.Commit(p, ModeSet, 0)
	}
	return s, keys
}
