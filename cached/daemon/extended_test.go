package daemon

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// memcachedVerdict runs stock memcached 1.6.18 on line and reports whether
// it starts and, if it refuses, what it prints. A refusal is immediate;
// a server still running after the grace period accepted the line.
func memcachedVerdict(t *testing.T, line string) (accepted bool, msg string) {
	t.Helper()
	path, err := exec.LookPath("memcached")
	if err != nil {
		t.Skip("needs memcached (the reference server) on PATH; make deps installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := append([]string{"-l", "127.0.0.1", "-p", "0", "-U", "0"}, strings.Fields(line)...)
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	cmd := exec.CommandContext(ctx, path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("memcached %s: %v", line, err)
		}
		return false, strings.TrimSpace(out.String())
	case <-time.After(700 * time.Millisecond):
		cmd.Process.Kill()
		<-done
		return true, ""
	}
}

// TestExtendedOptionsAsMemcached: every -o line here is accepted or refused
// by both daemons alike, and a refusal carries memcached's message. Lines
// memcached crashes on (slab_chunk_max without a number) are left out:
// cachectl refuses them.
func TestExtendedOptionsAsMemcached(t *testing.T) {
	for _, line := range []string{
		"-o slab_chunk_max=4096",
		"-m 48 -o slab_chunk_max=16384",
		"-I 1024 -o slab_chunk_max=1024",
		"-o no_modern,slab_chunk_max=4096",
		"-o slab_chunk_max=3000",
		"-o slab_chunk_max=2000000",
		"-o no_modern",
		"-o no_chunked_items",
		"-o slab_automove_window=5",
		"-o slab_automove_window=2",
		"-o slab_automove_window",
		"-o slab_reassign,slab_automove=2,slab_automove_ratio=0.5",
		"-o slab_automove=3",
		"-o slab_automove_ratio=2",
		"-o hashpower=5",
		"-o hashpower=20",
		"-o hashpower=40",
		"-o frobnicate",
		"-o modern=1",
		"-o idle_timeout=abc",
		"-o idle_timeout",
		"-o hot_lru_pct=abc",
		"-o warm_lru_pct=40,hot_max_factor=0.2,warm_max_factor=2.0",
		"-o hot_max_factor=0",
		"-o temporary_ttl=61",
		"-o temporary_ttl",
		"-o tail_repair_time=5",
		"-o hash_algorithm=murmur3",
		"-o hash_algorithm=md5",
		"-o lru_crawler,lru_crawler_sleep=100,lru_crawler_tocrawl=0",
		"-o lru_crawler_sleep=2000000",
		"-o lru_crawler_tocrawl=-1",
		"-o watcher_logbuf_size=256,worker_logbuf_size=64",
		"-o read_buf_mem_limit=x",
		"-o no_lru_maintainer,no_lru_crawler,no_slab_reassign,no_maxconns_fast,no_hashexpand,track_sizes",
		"-o lru_segmented",
		"-o no_lru_maintainer,temporary_ttl=5",
		"-o temporary_ttl=5,no_lru_maintainer",
		"-o no_modern,lru_maintainer,temporary_ttl=5",
		"-o no_modern,temporary_ttl=5",
		"-o hot_lru_pct=50,warm_lru_pct=40",
		"-o slab_automove=1,no_slab_automove",
		"-o slab_automove",
		"-o read_buf_mem_limit=1",
		"-o read_buf_mem_limit",
		"-o lru_crawler_tocrawl",
		"-o lru_crawler_sleep",
		"-o ext_item_size=100,ext_item_age=5,ext_low_ttl=1,ext_recache_rate=10,ext_compact_under=2,ext_drop_under=1",
		"-o ext_max_sleep=10,ext_max_frag=0.5,slab_automove_freeratio=0.2,ext_drop_unread",
		"-o ext_wbuf_size=8,ext_page_size=32,ext_threads=2,ext_io_depth=2",
		"-o ext_item_size",
		"-o ext_item_size=x",
		"-o ext_low_ttl=-1",
		"-o ext_max_frag",
		"-o ext_max_frag=abc",
		"-o slab_automove_freeratio=x",
		"-o ext_wbuf_size=",
		"-o ext_threads=x",
		"-o ext_path",
		"-o sock_cookie_id=5",
		"-o sock_cookie_id=x",
		"-o slab_sizes=100-200-400",
		"-o slab_sizes=10-200",
		"-o slab_sizes=200-100",
		"-o slab_sizes=100-104",
		"-o slab_sizes=100-abc",
		"-o slab_chunk_max=4096,slab_sizes=100-8000",
		"-n 120 -o slab_sizes=100-200",
	} {
		t.Run(line, func(t *testing.T) {
			t.Parallel()
			accepted, msg := memcachedVerdict(t, line)
			_, err := parseFlags(t, AllFlags, line)
			switch {
			case accepted && err != nil:
				t.Errorf("memcached starts, cachectl refuses: %v", err)
			case !accepted && err == nil:
				t.Errorf("memcached refuses (%q), cachectl accepts", msg)
			case !accepted && !strings.Contains(err.Error(), firstLine(msg)):
				t.Errorf("cachectl says %q, memcached %q", err, msg)
			case !accepted && !IsUsage(err):
				t.Errorf("%v is not a usage error", err)
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
