package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestControlRoundTrip: a daemon's control socket answers Ask for its
// policy, is root-only, refuses a second daemon on the same policy, and
// is replaced when stale.
func TestControlRoundTrip(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	path := ControlPath(pol)
	if !strings.HasPrefix(path, RunDir+"/policy-") || len(path) > 100 {
		t.Fatalf("ControlPath(%s) = %s", pol, path)
	}
	if _, err := Ask(pol, ControlRequest{Op: OpStatus}, time.Second); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Ask with no daemon: %v, want ErrNoDaemon", err)
	}
	ln, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ln.Serve(ctx, func(_ context.Context, req ControlRequest) ControlReply {
		if req.Op != OpStatus {
			return ControlReply{Error: "only status here", Daemon: DaemonInfo{PID: 7}}
		}
		return ControlReply{Daemon: DaemonInfo{PID: 7, Policy: pol}, Status: &StatusReport{Items: 3}}
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	rep, err := Ask(pol, ControlRequest{Op: OpStatus}, time.Second)
	if err != nil || rep.Daemon.PID != 7 || rep.Status == nil || rep.Status.Items != 3 {
		t.Fatalf("Ask status: %+v, %v", rep, err)
	}
	if _, err := Ask(pol, ControlRequest{Op: OpReload}, time.Second); err == nil || !strings.Contains(err.Error(), "only status here") {
		t.Errorf("an error reply reads as %v", err)
	}
	if _, err := ListenControl(path); !errors.Is(err, ErrControlInUse) {
		t.Errorf("a second daemon on the same policy: %v, want ErrControlInUse", err)
	}

	// A daemon that died leaves its socket file behind; the next one
	// replaces it.
	cancel()
	ln.ln.SetUnlinkOnClose(false)
	ln.Close()
	waitGone(t, pol)
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the stale socket file is not there to replace: %v", err)
	}
	ln2, err := ListenControl(path)
	if err != nil {
		t.Fatalf("replacing a stale socket: %v", err)
	}
	ln2.Close()
}

// waitGone waits until nothing answers for pol.
func waitGone(t *testing.T, pol string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := Ask(pol, ControlRequest{Op: OpStatus}, 100*time.Millisecond); errors.Is(err, ErrNoDaemon) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the closed control socket still answers")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
