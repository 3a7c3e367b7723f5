package main

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// TestServeUDPAndUnix runs the cachectl binary with -U and then -s and
// talks to each transport with a real client.
func TestServeUDPAndUnix(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	ns.MustRun("ip", "link", "set", "lo", "up")
	d := startCachectl(t, ns, "serve", "-l", "127.0.0.1", "-p", "11211", "-U", "11211")
	ns.WaitListening(netip.MustParseAddrPort("127.0.0.1:11211"), 10*time.Second)
	var reply []byte
	err := ns.Do(func() error {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer pc.Close()
		req := []byte{0, 9, 0, 0, 0, 1, 0, 0}
		req = append(req, "version\r\n"...)
		if _, err := pc.WriteTo(req, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 11211}); err != nil {
			return err
		}
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2048)
		n, _, err := pc.ReadFrom(buf)
		reply = buf[:n]
		return err
	})
	if err != nil || len(reply) < 8 || binary.BigEndian.Uint16(reply) != 9 || !strings.HasPrefix(string(reply[8:]), "VERSION ") {
		t.Fatalf("UDP version through cachectl serve -U: %q, %v\n%s", reply, err, d.out)
	}

	sock := filepath.Join(t.TempDir(), "c.sock")
	u := startCachectl(t, ns, "serve", "-s", sock, "-a", "0600")
	var nc net.Conn
	for range 100 {
		if nc, err = net.Dial("unix", sock); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("unix socket never came up: %v\n%s", err, u.out)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write([]byte("version\r\n"))
	buf := make([]byte, 64)
	n, _ := nc.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "VERSION ") {
		t.Errorf("unix socket: %q", buf[:n])
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v, %v", fi, err)
	}
}

// TestServeUnixSocketRefusesFile: -s over a regular file is bad input
// (exit 2) and leaves the file alone.
func TestServeUnixSocketRefusesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, cachectlBin, "serve", "-s", path).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "not a socket") {
		t.Errorf("serve -s over a regular file: %v: %s", err, out)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Errorf("file changed: %q", b)
	}
}
