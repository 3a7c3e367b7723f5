package cached

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func dialLoopback(t *testing.T, port int) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// TestIdleTimeout: -o idle_timeout closes a connection that says nothing
// for that long, counts it in idle_kicks, and leaves busy ones alone.
func TestIdleTimeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Port = freeLoopbackPort(t)
	cfg.IdleTimeout = time.Second
	serveTransport(t, cfg, nil)

	idle := dialLoopback(t, cfg.Port)
	textRequest(t, idle, "version\r\n", "")
	start := time.Now()
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := idle.Read(make([]byte, 16))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d bytes, %v; want EOF from the server", n, err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("closed after %v, before the 1s idle timeout", waited)
	}

	busy := dialLoopback(t, cfg.Port)
	var kicks string
	for range 8 { // 2s of traffic, each gap well under the timeout
		kicks = statValue(textRequest(t, busy, "stats\r\n", "END"), "idle_kicks")
		time.Sleep(250 * time.Millisecond)
	}
	if kicks != "1" {
		t.Errorf("idle_kicks = %q, want 1", kicks)
	}
	if got := statValue(textRequest(t, busy, "stats settings\r\n", "END"), "idle_timeout"); got != "1" {
		t.Errorf("stats settings idle_timeout = %q", got)
	}
}

// TestMaxConns: past -c a new client gets memcached's answer and is hung
// up on; the daemon keeps serving, and a freed slot is usable again.
func TestMaxConns(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1"}
	cfg.Port = freeLoopbackPort(t)
	cfg.MaxConns = 2
	srv := serveTransport(t, cfg, nil)

	first := dialLoopback(t, cfg.Port)
	second := dialLoopback(t, cfg.Port)
	textRequest(t, first, "version\r\n", "")
	textRequest(t, second, "version\r\n", "")
	for i := range 3 {
		extra := dialLoopback(t, cfg.Port)
		extra.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(extra)
		if string(got) != "ERROR Too many open connections\r\n" || err != nil {
			t.Errorf("connection %d past -c: %q, %v", i+3, got, err)
		}
	}
	if got := textRequest(t, first, "set k 0 0 1\r\nv\r\n", ""); got[0] != "STORED" {
		t.Errorf("existing client after refusals: %q", got)
	}
	stats := textRequest(t, first, "stats\r\n", "END")
	if got := statValue(stats, "rejected_connections"); got != "3" {
		t.Errorf("rejected_connections = %q, want 3", got)
	}
	second.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.currConns.Load() > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	again := dialLoopback(t, cfg.Port)
	if got := textRequest(t, again, "get k\r\n", "END"); strings.Join(got, "|") != "VALUE k 0 1|v|END" {
		t.Errorf("client in the freed slot: %q", got)
	}
}
