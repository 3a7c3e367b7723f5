package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/policy"
)

// filterLog records the filters a reloader installs.
type filterLog struct {
	mu      sync.Mutex
	filters []cached.PeerFilter
}

func (l *filterLog) SetPeerFilter(f cached.PeerFilter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.filters = append(l.filters, f)
}

// waitFor polls until the n-th installed filter exists, bounded to 5s.
func (l *filterLog) waitFor(t *testing.T, n int) cached.PeerFilter {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		if len(l.filters) >= n {
			f := l.filters[n-1]
			l.mu.Unlock()
			return f
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("reload %d never happened", n)
	return nil
}

func (l *filterLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.filters)
}

// TestReloaderFollowsThePolicy: an edit of the file and a SIGHUP each
// install the policy's new allowlist; a broken file installs nothing.
func TestReloaderFollowsThePolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if _, err := policy.Edit(path, func(*policy.Policy) error { return nil }); err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("192.0.2.7")
	filters := &filterLog{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p0, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	(&Reloader{
		Path:   path,
		Server: filters,
		Filter: func(p *policy.Policy) cached.PeerFilter {
			return func(a netip.Addr) (string, bool) { return p.Permits(a) }
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}).Start(ctx, p0)
	if _, ok := filters.waitFor(t, 1)(peer); ok {
		t.Fatalf("the starting policy admits %s", peer)
	}

	// SIGHUP first: Start catches it before returning, while the file
	// watch is set up on its own goroutine and may still be starting.
	if _, err := policy.Edit(path, func(p *policy.Policy) error {
		p.Allow(netip.PrefixFrom(peer, 32), "test", time.Unix(1700000000, 0))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	hangup(t)
	if _, ok := filters.waitFor(t, 2)(peer); !ok {
		t.Fatalf("after the edit and SIGHUP %s is still refused", peer)
	}

	if err := os.WriteFile(path, []byte("version: 1\npeers: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hangup(t)
	time.Sleep(500 * time.Millisecond) // past the watch's debounce too
	if n := filters.count(); n != 2 {
		t.Fatalf("a broken policy installed a filter (%d reloads)", n)
	}

	// The watch alone: Edit replaces the file by rename, as editors do.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Edit(path, func(*policy.Policy) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := filters.waitFor(t, 3)(peer); ok {
		t.Fatalf("after the file went back to the default %s is still admitted", peer)
	}
}

func hangup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func TestAllowedList(t *testing.T) {
	p := policy.Default()
	if got := AllowedList(p); got != "loopback only (127.0.0.0/8, ::1)" {
		t.Errorf("default policy: %q", got)
	}
	p.Allow(netip.MustParsePrefix("10.0.0.0/24"), "", time.Time{})
	p.Reindex()
	if got := AllowedList(p); got != "loopback (127.0.0.0/8, ::1), 10.0.0.0/24" {
		t.Errorf("with a peer: %q", got)
	}
	p.Peers = policy.Peers{}
	p.Reindex()
	if got := AllowedList(p); got != "nobody (loopback is off and no peer is allowed)" {
		t.Errorf("closed: %q", got)
	}
}
