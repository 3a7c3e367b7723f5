package cached

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// freeLoopbackPort finds a port free for both TCP and UDP on 127.0.0.1.
func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP after 20 tries")
	return 0
}

// serveTransport binds cfg (listen runs the bind, e.g. inside a netns)
// and serves until the test ends.
func serveTransport(t testing.TB, cfg Config, listen func(func() error) error) *Server {
	t.Helper()
	cfg.Store.MemoryLimit = 16 << 20
	return serveConfig(t, cfg, listen)
}

// serveConfig is serveTransport with cfg's memory limit as given.
func serveConfig(t testing.TB, cfg Config, listen func(func() error) error) *Server {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if listen == nil {
		listen = func(f func() error) error { return f() }
	}
	if err := listen(srv.Listen); err != nil {
		srv.store.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not stop within 15s")
		}
	})
	return srv
}

// textRequest sends one request over a stream connection and reads lines
// until one equals end (or the first line when end is "").
func textRequest(t testing.TB, nc net.Conn, req, end string) []string {
	t.Helper()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatalf("writing %q: %v", req, err)
	}
	r := bufio.NewReader(nc)
	var lines []string
	for range 10000 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading reply to %q: %v (so far %q)", req, err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if end == "" || line == end {
			return lines
		}
	}
	t.Fatalf("reply to %q did not end with %q", req, end)
	return nil
}

// statValue finds "STAT name value" in lines.
func statValue(lines []string, name string) string {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "STAT "+name+" "); ok {
			return v
		}
	}
	return ""
}
