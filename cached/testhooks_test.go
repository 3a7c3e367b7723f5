package cached

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"
)

// memcached's test suite starts memcached-debug with -o relaxed_privileges
// and moves its clock with debugtime; a production daemon must not let a
// client expire everything, so the command exists only under that option.
func TestDebugTime(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		enabled bool
	}{
		{"default", nil, false},
		{"relaxed_privileges", []string{"-o", "relaxed_privileges"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startCachectl(t, tc.args...)
			nc := d.dial(t)
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(nc)
			send := func(req, want string) {
				t.Helper()
				fmt.Fprint(nc, req)
				expectLine(t, r, want)
			}
			send("set foo 0 10 1\r\nx\r\n", "STORED")
			if !tc.enabled {
				send("debugtime 11\r\n", "ERROR")
				send("get foo\r\n", "VALUE foo 0 1")
				expectLine(t, r, "x")
				expectLine(t, r, "END")
				return
			}
			send("debugtime p\r\n", "OK")
			send("debugtime soon\r\n", "ERROR")
			send("debugtime 11\r\n", "OK")
			send("get foo\r\n", "END")
			send("set bar 0 5 1\r\ny\r\n", "STORED")
			// Paused, the clock stays where debugtime left it.
			time.Sleep(1100 * time.Millisecond)
			send("debugtime 4\r\n", "OK")
			send("get bar\r\n", "VALUE bar 0 1")
			expectLine(t, r, "y")
			expectLine(t, r, "END")
			send("debugtime r\r\n", "OK")
			send("debugtime 2\r\n", "OK")
			send("get bar\r\n", "END")
		})
	}
}

// T_MEMD_INITIAL_MALLOC is read by memcached in every build: its test
// suite fakes four gigabytes already allocated to test a large -m.
func TestInitialMallocEnv(t *testing.T) {
	// The name is the daemon package's InitialMallocEnv, which this
	// package cannot import.
	t.Setenv("T_MEMD_INITIAL_MALLOC", "4294967328")
	d := startCachectl(t, "-m", "4098", "-M")
	nc := d.dial(t)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(nc)
	fmt.Fprint(nc, "stats slabs\r\n")
	var malloced string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "END\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(line, "STAT total_malloced "); ok {
			malloced = strings.TrimSpace(v)
		}
	}
	if malloced != "4294967328" {
		t.Fatalf("total_malloced %q, want the faked 4294967328", malloced)
	}
	// Two megabytes are left under -m 4098: the first page of a class may
	// pass the limit, the second fits, the third is refused under -M.
	val := strings.Repeat("a", 400<<10)
	stored := 0
	for i := range 5 {
		fmt.Fprintf(nc, "set big%d 0 0 %d\r\n%s\r\n", i, len(val), val)
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "STORED\r\n" {
			stored++
		}
	}
	if stored == 5 {
		t.Fatal("every 400 KB set was stored; the faked allocation did not count against -m")
	}
}
