package netinfo

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// script is a Watcher that serves snapshots in turn, one per notice.
type script struct {
	snaps   []Snapshot
	reads   int
	notices chan struct{}
}

func (s *script) Gather() (Snapshot, error) {
	snap := s.snaps[min(s.reads, len(s.snaps)-1)]
	s.reads++
	return snap, nil
}

func (s *script) Changes(<-chan struct{}) (<-chan struct{}, error) { return s.notices, nil }

func TestWaitReResolvesOnEachNotice(t *testing.T) {
	down := host()
	down.Interfaces[1].AdminUp = false // eth0 down
	noAddr := host()
	noAddr.Interfaces[1].Addrs = nil
	w := &script{snaps: []Snapshot{down, noAddr, host()}, notices: make(chan struct{}, 3)}
	for range 3 {
		w.notices <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := Wait(ctx, Request{Interfaces: []string{"eth0"}, Family: IPv4}, w)
	if err != nil || len(got) != 2 || got[0].Addr() != netip.MustParseAddr("10.0.0.5") {
		t.Fatalf("Wait = %v, %v; want eth0's IPv4 addresses", got, err)
	}
	if w.reads != 3 {
		t.Errorf("Wait read %d snapshots, want 3 (one per state)", w.reads)
	}
}

func TestWaitReportsLostNotices(t *testing.T) {
	w := &script{snaps: []Snapshot{host()}, notices: make(chan struct{})}
	close(w.notices)
	_, err := Wait(context.Background(), Request{Addrs: []string{"10.0.0.1"}}, w)
	var nl *NotLocalError
	if !errors.As(err, &nl) {
		t.Fatalf("Wait = %v, want the last NotLocalError when notices stop", err)
	}
}
