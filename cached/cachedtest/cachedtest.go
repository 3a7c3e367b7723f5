// Package cachedtest runs the real daemon (package cached) inside a test's
// network namespace, for the tests of the tools that talk to it.
package cachedtest

import (
	"context"
	"testing"
	"time"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

// StartIn binds cfg's listeners inside ns (the sockets stay there) and
// serves until the test ends.
func StartIn(t testing.TB, ns *nstest.NS, cfg cached.Config) *cached.Server {
	t.Helper()
	srv, err := cached.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(srv.Listen); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("daemon did not stop within 5s")
		}
	})
	return srv
}
