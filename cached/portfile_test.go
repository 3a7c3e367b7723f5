package cached

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MEMCACHED_PORT_FILENAME, -p -1 and -U without -p, beside memcached: the
// same lines in the same order, for ports that really answer.
func TestPortFileMatchesMemcached(t *testing.T) {
	mcPath := memcachedPath(t)
	self := testBinary(t)
	udp := strconv.Itoa(freeLoopbackPort(t))
	cases := []struct {
		name string
		args []string
	}{
		{"ephemeral TCP", []string{"-l", "127.0.0.1", "-p", "-1"}},
		{"ephemeral TCP and UDP", []string{"-l", "127.0.0.1", "-p", "-1", "-U", "-1"}},
		{"-U without -p", []string{"-l", "127.0.0.1", "-U", udp}},
		{"TCP off", []string{"-l", "127.0.0.1", "-p", "0", "-U", udp}},
		// An AF_INET socket each, not Go's dual-stack one (listed INET6).
		{"IPv4 wildcard", []string{"-l", "0.0.0.0", "-p", "-1", "-U", "-1"}},
		{"both wildcards", []string{"-l", "0.0.0.0,[::]", "-p", "-1"}},
		// memcached starts with no listener and writes an empty file.
		{"no transport", []string{"-p", "0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mcArgs := tc.args
			if os.Geteuid() == 0 {
				mcArgs = append(append([]string{}, mcArgs...), "-u", "root")
			}
			want := runForPortFile(t, exec.Command(mcPath, mcArgs...))
			cmd := exec.Command(self, tc.args...)
			cmd.Env = append(os.Environ(), DaemonEnv+"=1")
			got := runForPortFile(t, cmd)
			if portShape(got) != portShape(want) {
				t.Errorf("port file:\n%s\nmemcached's:\n%s", got, want)
			}
			if strings.Contains(tc.name, "-U") && !strings.Contains(got, "TCP INET: "+udp+"\nUDP INET: "+udp+"\n") {
				t.Errorf("-U %s without -p: TCP should take the UDP port too:\n%s", udp, got)
			}
		})
	}
}

var portNumber = regexp.MustCompile(`: \d+`)

// portShape is the file with its kernel-picked numbers blanked.
func portShape(s string) string { return portNumber.ReplaceAllString(s, ": N") }

// runForPortFile starts a server with MEMCACHED_PORT_FILENAME set, waits
// for the file, checks every TCP port it names answers, and stops it.
func runForPortFile(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "ports")
	cmd.Env = append(cmd.Environ(), "MEMCACHED_PORT_FILENAME="+name)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	var content []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if content, err = os.ReadFile(name); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s wrote no port file in 10s: %s", cmd.Path, log.String())
		}
	}
	if _, err := os.Stat(name + ".lck"); err == nil {
		t.Errorf("%s left %s.lck behind", cmd.Path, name)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(content)), "\n") {
		if port, ok := strings.CutPrefix(line, "TCP INET: "); ok {
			checkAnswers(t, net.JoinHostPort("127.0.0.1", port))
		}
	}
	return string(content)
}

func checkAnswers(t *testing.T, addr string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("port file names %s, which does not answer: %v", addr, err)
	}
	defer nc.Close()
	if got := textRequest(t, nc, "version\r\n", ""); len(got) != 1 || !strings.HasPrefix(got[0], "VERSION ") {
		t.Errorf("%s answered %q to version", addr, got)
	}
	fmt.Fprint(nc, "quit\r\n")
}
