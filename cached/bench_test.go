package cached

import (
	"bytes"
	"io"
	"testing"
)

// repeatReader serves the same request batch n times, then EOF.
type repeatReader struct {
	batch []byte
	n     int
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off == len(r.batch) {
		if r.n == 0 {
			return 0, io.EOF
		}
		r.n--
		r.off = 0
	}
	k := copy(p, r.batch[r.off:])
	r.off += k
	return k, nil
}

type discardRW struct{ io.Reader }

func (discardRW) Write(p []byte) (int, error) { return len(p), nil }

func benchServer(b *testing.B) *Server {
	cfg := DefaultConfig()
	cfg.Store.MemoryLimit = 256 << 20
	srv, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.store.Close() })
	return srv
}

// benchBatch runs one request batch b.N times through a connection; the
// get/set hit paths must not allocate per request.
func benchBatch(b *testing.B, setup, batch string) {
	srv := benchServer(b)
	if setup != "" {
		c := newConn(srv, discardRW{bytes.NewReader([]byte(setup))})
		c.serve()
	}
	c := newConn(srv, discardRW{&repeatReader{batch: []byte(batch), n: b.N}})
	b.ReportAllocs()
	b.ResetTimer()
	c.serve()
}

var value100 = string(bytes.Repeat([]byte("v"), 100))

func BenchmarkGetHit(b *testing.B) {
	benchBatch(b, "set key:1 0 0 100\r\n"+value100+"\r\n", "get key:1\r\n")
}

func BenchmarkGetMiss(b *testing.B) {
	benchBatch(b, "", "get key:missing\r\n")
}

func BenchmarkSet(b *testing.B) {
	benchBatch(b, "", "set key:1 0 0 100\r\n"+value100+"\r\n")
}

func BenchmarkMultiGet10(b *testing.B) {
	var setup, keys bytes.Buffer
	for i := range 10 {
		setup.WriteString("set key:" + string(rune('a'+i)) + " 0 0 100\r\n" + value100 + "\r\n")
		keys.WriteString(" key:" + string(rune('a'+i)))
	}
	benchBatch(b, setup.String(), "get"+keys.String()+"\r\n")
}
