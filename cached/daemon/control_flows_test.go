package daemon

import (
	"errors"
	"strings"
	"testing"
)

// TestControlFlowsWithoutTracker: a daemon that could not follow
// conntrack events says so, with the reason, so the audit can pass it on.
func TestControlFlowsWithoutTracker(t *testing.T) {
	c := &Control{TrackErr: errors.New("subscribing to conntrack events (needs CAP_NET_ADMIN): operation not permitted")}
	rep, err := c.flows()
	if rep != nil || !errors.Is(err, errNotTracking) || !strings.Contains(err.Error(), "needs CAP_NET_ADMIN") {
		t.Fatalf("flows() = %+v, %v; want no table and the reason", rep, err)
	}
	if _, err := (&Control{}).flows(); !errors.Is(err, errNotTracking) {
		t.Fatalf("flows() without a tracker or a reason: %v", err)
	}
}
