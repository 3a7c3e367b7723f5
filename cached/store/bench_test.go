package store

import (
	"bytes"
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
