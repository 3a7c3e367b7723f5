package cached

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzBinary drives a binary-only connection with arbitrary bytes: no
// panic, and every byte written back is a well-formed response packet.
func FuzzBinary(f *testing.F) {
	srv := testServer(f, func(c *Config) {
		c.Protocol = ProtocolBinary
		c.Store.MemoryLimit = 8 << 20
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		c := newConn(srv, rwPair{bytes.NewReader(in), &out})
		if err := c.serve(); err != nil && strings.HasPrefix(err.Error(), "panic") {
			t.Fatal(err)
		}
		if n := srv.panics.Load(); n != 0 {
			t.Fatalf("%d panics", n)
		}
		if len(c.in) > 128<<10 {
			t.Fatalf("input buffer grew to %d bytes", len(c.in))
		}
		checkResponses(t, out.Bytes())
	})
}

func checkResponses(t *testing.T, b []byte) {
	for len(b) > 0 {
		if len(b) < binHeaderLen || b[0] != binMagicRes {
			t.Fatalf("malformed response stream at %x", b[:min(len(b), binHeaderLen)])
		}
		kl, ext := int(binary.BigEndian.Uint16(b[2:])), int(b[4])
		bl := int(binary.BigEndian.Uint32(b[8:]))
		if bl < kl+ext || len(b) < binHeaderLen+bl {
			t.Fatalf("response header %x: lengths do not fit", b[:binHeaderLen])
		}
		b = b[binHeaderLen+bl:]
	}
}
