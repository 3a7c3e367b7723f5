package cached_test

import (
	"os"
	"testing"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/daemon"
)

// TestMain lets the tests run the daemon as a process of its own without
// building cachectl: the harness re-executes this test binary with
// cached.DaemonEnv set, and that process runs the daemon library's entry
// point on its arguments instead of the tests. It lives in the external
// test package because the daemon library imports package cached.
func TestMain(m *testing.M) {
	if os.Getenv(cached.DaemonEnv) != "" {
		os.Exit(daemon.Main(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}
