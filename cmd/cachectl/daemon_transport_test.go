package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

func parseDaemonFlags(t *testing.T, args ...string) (cached.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	var f daemonFlags
	f.register(fs, true)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return f.config()
}

func TestDaemonTransportFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(cached.Config) bool
		err   string
	}{
		{"UDP off by default", nil, func(c cached.Config) bool { return c.UDPPort == 0 && c.Port == 11211 && !c.UDPAnyPeer }, ""},
		{"-U alone moves TCP too, as memcached", []string{"-U", "11300"}, func(c cached.Config) bool { return c.UDPPort == 11300 && c.Port == 11300 }, ""},
		{"-U with -p keeps both", []string{"-p", "11211", "-U", "11300"}, func(c cached.Config) bool { return c.UDPPort == 11300 && c.Port == 11211 }, ""},
		{"udp_any_peer opt-in", []string{"-U", "11211", "-o", "udp_any_peer"}, func(c cached.Config) bool { return c.UDPAnyPeer }, ""},
		{"udp_any_peer without UDP", []string{"-o", "udp_any_peer"}, nil, "only makes sense with -U"},
		{"-U out of range", []string{"-U", "70000"}, nil, "between 0 (off) and 65535"},
		{"unix socket and mask", []string{"-s", "/run/c.sock", "-a", "660"}, func(c cached.Config) bool { return c.UnixSocket == "/run/c.sock" && c.UnixMask == 0o660 }, ""},
		{"default mask", []string{"-s", "/run/c.sock"}, func(c cached.Config) bool { return c.UnixMask == fs.FileMode(0o700) }, ""},
		{"bad mask", []string{"-s", "/run/c.sock", "-a", "999"}, nil, "octal permissions"},
		{"TLS", []string{"-Z", "-o", "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_ca_cert=/ca.pem,ssl_verify_mode=2"}, func(c cached.Config) bool {
			return c.TLS == cached.TLSConfig{Enabled: true, ChainCert: "/c.pem", Key: "/k.pem", CACert: "/ca.pem", VerifyMode: 2}
		}, ""},
		{"-Z without certificate", []string{"-Z"}, nil, "ssl_chain_cert=FILE,ssl_key=FILE"},
		{"ssl options without -Z", []string{"-o", "ssl_chain_cert=/c.pem,ssl_key=/k.pem"}, nil, "add -Z"},
		{"verify mode out of range", []string{"-Z", "-o", "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_verify_mode=5"}, nil, "3 (once)"},
		{"OpenSSL cipher string", []string{"-Z", "-o", "ssl_ciphers=HIGH"}, nil, "Go's crypto/tls"},
		{"ssl_keyformat DER", []string{"-Z", "-o", "ssl_keyformat=2"}, nil, "only 1 (PEM)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseDaemonFlags(t, tt.args...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				if exitCode(err) != exitUsage {
					t.Errorf("exit code %d, want %d", exitCode(err), exitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

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
