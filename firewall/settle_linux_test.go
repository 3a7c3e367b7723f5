package firewall

import (
	"context"
	"testing"
	"time"
)

// count feeds raw messages every gap for span and counts the notifications
// settle passes on until raw closes.
func countSettled(t *testing.T, quiet, gap, span time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw := make(chan struct{}, 1)
	out := settle(ctx, raw, quiet)
	go func() {
		defer close(raw)
		for end := time.Now().Add(span); time.Now().Before(end); time.Sleep(gap) {
			select {
			case raw <- struct{}{}:
			default:
			}
		}
	}()
	n := 0
	for range out {
		n++
	}
	if ctx.Err() != nil {
		t.Fatal("settle did not end when its input closed")
	}
	return n
}

func TestSettle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		quiet    time.Duration
		gap      time.Duration
		span     time.Duration
		min, max int
	}{
		// A burst longer than quiet, but with no pause as long: one change.
		{"burst longer than quiet", 100 * time.Millisecond, 5 * time.Millisecond, 250 * time.Millisecond, 1, 1},
		// A stream that never pauses is still reported, every settleMax
		// quiets: two or three times in 1.2 s, plus once when it ends. A
		// loaded machine can stall the sender past quiet, which adds a
		// report (quiet 20 ms gave 6 once under a parallel test run), so
		// quiet is long and the bound loose; hundreds of messages still
		// must not come out as more than a handful.
		{"endless stream", 50 * time.Millisecond, 2 * time.Millisecond, 1200 * time.Millisecond, 2, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := countSettled(t, tc.quiet, tc.gap, tc.span); n < tc.min || n > tc.max {
				t.Errorf("%d notifications, want %d..%d", n, tc.min, tc.max)
			}
		})
	}
}
