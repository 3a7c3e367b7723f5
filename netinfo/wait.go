package netinfo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Watcher is what Wait reads: snapshots, and a notice whenever they may have
// changed. Source (netlink) is the real one; tests may script their own.
type Watcher interface {
	Gather() (Snapshot, error)
	// Changes delivers a value after changes and is closed once done is
	// closed (or early, when notices can no longer be trusted).
	Changes(done <-chan struct{}) (<-chan struct{}, error)
}

// Wait resolves r, and while the host cannot meet it yet (an interface
// missing or down, an address not assigned or still tentative), waits for
// netlink to report a change and tries again, until it succeeds or ctx ends.
// Errors no change can fix (a malformed address, a link-local address
// without a zone) are returned at once. On timeout the last reason is
// returned, wrapped to say how long Wait waited; errors.As still finds it.
func Wait(ctx context.Context, r Request, w Watcher) ([]netip.AddrPort, error) {
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	// Subscribe before the first read so no change falls between the two.
	changes, err := w.Changes(done)
	if err != nil {
		return nil, fmt.Errorf("watching for network changes: %w", err)
	}
	for {
		s, err := w.Gather()
		if err != nil {
			return nil, err
		}
		aps, err := Resolve(s, r)
		if err == nil || permanent(err) {
			return aps, err
		}
		select {
		case <-ctx.Done():
			return nil, &WaitError{Waited: time.Since(start), Cause: ctx.Err(), Err: err}
		case _, ok := <-changes:
			if !ok {
				return nil, fmt.Errorf("netlink stopped reporting changes after %s; last check: %w",
					time.Since(start).Round(time.Millisecond), err)
			}
		}
	}
}

// WaitError is Wait giving up: the network did not come to meet the request
// in time. Err is the reason from the last check.
type WaitError struct {
	Waited time.Duration
	Cause  error // context.DeadlineExceeded or context.Canceled
	Err    error
}

func (e *WaitError) Error() string {
	verb := "gave up"
	if errors.Is(e.Cause, context.Canceled) {
		verb = "was cancelled"
	}
	return fmt.Sprintf("waited %s for the listen addresses and %s; still: %v", e.Waited.Round(time.Millisecond), verb, e.Err)
}

func (e *WaitError) Unwrap() []error { return []error{e.Err, e.Cause} }
