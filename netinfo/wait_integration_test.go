package netinfo

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// upPair gives a namespace with a veth pair ni0/ni1 up and no addresses.
func upPair(t *testing.T) *nstest.NS {
	t.Helper()
	ns := nstest.New(t)
	ns.MustRun("ip", "link", "add", "ni0", "type", "veth", "peer", "name", "ni1")
	ns.MustRun("ip", "link", "set", "ni1", "up")
	ns.MustRun("ip", "link", "set", "ni0", "up")
	return ns
}

// TestWaitSeesAddressesArrive starts Wait before the addresses exist, adds
// them a second later (the IPv6 one with DAD, so it is tentative first), and
// expects Wait to return them once both can be bound.
func TestWaitSeesAddressesArrive(t *testing.T) {
	t.Parallel()
	ns := upPair(t)
	req := Request{Addrs: []string{"10.213.9.1", "fd00:9::1"}, Port: 11211}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type result struct {
		aps []netip.AddrPort
		err error
	}
	done := make(chan result, 1)
	go func() {
		aps, err := Wait(ctx, req, In(ns.Handle()))
		done <- result{aps, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Wait returned before the addresses existed: %v, %v", r.aps, r.err)
	case <-time.After(time.Second):
	}
	ns.MustRun("ip", "addr", "add", "10.213.9.1/24", "dev", "ni0")
	ns.MustRun("ip", "addr", "add", "fd00:9::1/64", "dev", "ni0")

	r := <-done // bounded by ctx
	if r.err != nil {
		t.Fatalf("Wait: %v", r.err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("10.213.9.1:11211"), netip.MustParseAddrPort("[fd00:9::1]:11211")}
	if !reflect.DeepEqual(r.aps, want) {
		t.Fatalf("Wait = %v, want %v", r.aps, want)
	}
	// Wait only returns once DAD is over, so the daemon's bind succeeds.
	err := ns.Do(func() error {
		for _, ap := range r.aps {
			l, err := net.Listen("tcp", ap.String())
			if err != nil {
				return err
			}
			l.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("binding what Wait returned: %v", err)
	}
}

func TestWaitGivesUpWithTheLastReason(t *testing.T) {
	t.Parallel()
	ns := upPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := Wait(ctx, Request{Addrs: []string{"10.213.9.2"}}, In(ns.Handle()))
	var we *WaitError
	var nl *NotLocalError
	if !errors.As(err, &we) || !errors.As(err, &nl) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want a WaitError wrapping NotLocalError and the deadline", err)
	}
	if !strings.HasPrefix(err.Error(), "waited 1.5") || !IsBadRequest(err) {
		t.Errorf("message %q should say how long it waited; IsBadRequest = %v", err, IsBadRequest(err))
	}
}

func TestWaitReturnsPermanentErrorsAtOnce(t *testing.T) {
	t.Parallel()
	ns := upPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Wait(ctx, Request{Addrs: []string{"fe80::1"}}, In(ns.Handle()))
	var z *ZoneRequiredError
	var we *WaitError
	if !errors.As(err, &z) || errors.As(err, &we) {
		t.Fatalf("Wait = %v, want a ZoneRequiredError without waiting", err)
	}
}

func TestWaitSeesInterfaceComeUp(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	ns.MustRun("ip", "link", "add", "ni0", "type", "veth", "peer", "name", "ni1")
	ns.MustRun("ip", "link", "set", "ni1", "up")
	ns.MustRun("ip", "addr", "add", "10.213.9.3/24", "dev", "ni0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		time.Sleep(500 * time.Millisecond)
		_, _ = ns.Run("ip", "link", "set", "ni0", "up")
	}()
	aps, err := Wait(ctx, Request{Interfaces: []string{"ni0"}, Family: IPv4}, In(ns.Handle()))
	if err != nil || len(aps) != 1 || aps[0].Addr() != netip.MustParseAddr("10.213.9.3") {
		t.Fatalf("Wait = %v, %v; want 10.213.9.3 once ni0 is up", aps, err)
	}
}

// TestChangesStopsWhenDone shows a notice arrives for a real change and the
// subscriptions end (the channel closes) once done is closed, so Wait leaves
// no netlink goroutines behind.
func TestChangesStopsWhenDone(t *testing.T) {
	t.Parallel()
	ns := upPair(t)
	done := make(chan struct{})
	ch, err := In(ns.Handle()).Changes(done)
	if err != nil {
		t.Fatal(err)
	}
	ns.MustRun("ip", "addr", "add", "10.213.9.4/24", "dev", "ni0")
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no notice within 5 s of adding an address")
	}
	close(done)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("Changes channel still open 5 s after done was closed")
		}
	}
}

// TestNonlocalBindDoesNotChangeTheVerdict: with ip_nonlocal_bind the kernel
// lets a socket bind a foreign address (and then receive nothing); cachectl
// still refuses it, as NotLocalError's message promises.
func TestNonlocalBindDoesNotChangeTheVerdict(t *testing.T) {
	t.Parallel()
	ns := upPair(t)
	ns.MustRun("sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1")
	s, err := GatherIn(ns.Handle())
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("10.213.9.5")
	var nl *NotLocalError
	if err := CheckListen(s, a); !errors.As(err, &nl) {
		t.Fatalf("CheckListen(%s) = %v, want NotLocalError", a, err)
	}
	err = ns.Do(func() error {
		l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
		if err == nil {
			l.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("with ip_nonlocal_bind=1 the kernel was expected to allow the bind: %v", err)
	}
}
