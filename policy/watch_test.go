package policy

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := Create(path, Default()); err != nil {
		t.Fatal(err)
	}
	changes := make(chan *Policy, 10)
	errs := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, path, func(p *Policy) { changes <- p }, func(err error) { errs <- err })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v", err)
		}
	})
	// Watch registers asynchronously: rewrite until it reports once, so the
	// timed checks below measure reloads, not start-up.
	data, err := Default().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ready := false
	for range 50 {
		if err := WriteFileAtomic(path, data, FileMode); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changes:
			ready = true
		case <-time.After(200 * time.Millisecond):
		}
		if ready {
			break
		}
	}
	if !ready {
		t.Fatal("Watch reported no change in 10 s of rewrites")
	}
	for len(changes) > 0 {
		<-changes
	}

	if _, err := Edit(path, func(p *Policy) error {
		p.Allow(netip.MustParsePrefix("10.0.0.1/32"), "", time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-changes:
		if _, ok := p.Permits(netip.MustParseAddr("10.0.0.1")); !ok {
			t.Errorf("reloaded policy does not permit the new peer: %+v", p.Peers)
		}
	case err := <-errs:
		t.Fatalf("onError after a good rewrite: %v", err)
	case <-time.After(time.Second):
		t.Fatal("no onChange within a second of a rewrite")
	}

	// A broken save (written in place, as an editor might) must not replace it.
	if err := os.WriteFile(path, []byte("version: 1\npeers:\n  alowed: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Logf("onError: %v", err)
	case p := <-changes:
		t.Fatalf("onChange after a broken rewrite: %+v", p)
	case <-time.After(time.Second):
		t.Fatal("no onError within a second of a broken rewrite")
	}
	select {
	case p := <-changes:
		t.Fatalf("onChange after a broken rewrite: %+v", p)
	case <-time.After(3 * watchDebounce):
	}
}
