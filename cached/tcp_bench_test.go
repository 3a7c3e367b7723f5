package cached

import (
	"io"
	"net"
	"strconv"
	"testing"
)

// BenchmarkTCPGetHit runs get over a real loopback socket, so the
// raw-read path (the loop's spare input buffer lent per request)
// is measured; it must not allocate per request either.
func BenchmarkTCPGetHit(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Port = freeLoopbackPort(b)
	serveTransport(b, cfg, nil)
	nc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	set := "set key:1 0 0 100\r\n" + value100 + "\r\n"
	if _, err := io.WriteString(nc, set); err != nil {
		b.Fatal(err)
	}
	stored := make([]byte, len("STORED\r\n"))
	if _, err := io.ReadFull(nc, stored); err != nil || string(stored) != "STORED\r\n" {
		b.Fatalf("set: %q, %v", stored, err)
	}
	get := []byte("get key:1\r\n")
	reply := make([]byte, len("VALUE key:1 0 100\r\n"+value100+"\r\nEND\r\n"))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := nc.Write(get); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, reply); err != nil {
			b.Fatal(err)
		}
	}
}
