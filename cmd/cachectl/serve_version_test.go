package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestServeVersionAsMemcached: `serve -V` prints what `memcached -V`
// prints, and exits 0 whatever flags come before it, as scripts and
// client test suites probe a memcached binary with it.
func TestServeVersionAsMemcached(t *testing.T) {
	want := "memcached 1.6.18\n"
	if out, err := exec.Command("memcached", "-V").Output(); err == nil {
		want = string(out)
	}
	for _, args := range [][]string{{"serve", "-V"}, {"serve", "--enable-ssl", "--version"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != exitOK || stdout.String() != want {
			t.Errorf("cachectl %v: exit %d, printed %q (stderr %q); want exit 0 and %q", args, code, stdout.String(), stderr.String(), want)
		}
	}
}
