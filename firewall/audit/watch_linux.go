package audit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Event is one conntrack event on the cache port, judged.
type Event struct {
	Time     time.Time  `json:"time"`
	Type     string     `json:"event"` // "new", "destroy" or "lost"
	Proto    string     `json:"proto,omitempty"`
	Peer     netip.Addr `json:"peer,omitzero"`
	PeerPort uint16     `json:"peer_port,omitempty"`
	Endpoint string     `json:"endpoint,omitempty"` // cache address:port the flow ends at
	Dialled  string     `json:"dialled,omitempty"`  // what the peer dialled, when DNATed
	State    string     `json:"state,omitempty"`
	Verdict  Verdict    `json:"verdict,omitempty"`
	Entry    string     `json:"entry,omitempty"`
	Message  string     `json:"message,omitempty"` // for "lost"
}

// Text renders the event as one line.
func (e Event) Text() string {
	ts := e.Time.Format(time.RFC3339)
	if e.Type == "lost" {
		return fmt.Sprintf("%s LOST %s", ts, e.Message)
	}
	s := fmt.Sprintf("%s %-7s %s %s -> %s %s %s", ts, e.Type, e.Proto,
		netip.AddrPortFrom(e.Peer, e.PeerPort), e.Endpoint, e.State, e.Verdict)
	if e.Entry != "" {
		s += " (" + e.Entry + ")"
	}
	if e.Dialled != "" {
		s += " dialled " + e.Dialled
	}
	return s
}

// eventReadBuffer is the socket receive buffer asked for: a burst of new
// connections must not overflow it before the consumer catches up.
const eventReadBuffer = 8 << 20

// Watch streams conntrack NEW and DESTROY events for the cache's flows to
// emit until ctx ends (then it returns nil) or emit or the socket fails.
// When the kernel drops events because the socket overflowed (ENOBUFS) it
// emits a "lost" event and subscribes again rather than going silent.
func Watch(ctx context.Context, nsFD int, r Rules, emit func(Event) error) error {
	for {
		err := watchOnce(ctx, nsFD, r, emit)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, unix.ENOBUFS) {
			return err
		}
		lost := Event{Time: time.Now(), Type: "lost", Message: "the kernel dropped events (socket buffer overflow); events between this line and the previous one may be missing, run 'cachectl audit' for the full table"}
		if err := emit(lost); err != nil {
			return err
		}
	}
}

func watchOnce(ctx context.Context, nsFD int, r Rules, emit func(Event) error) error {
	c, err := conntrack.Dial(&netlink.Config{NetNS: nsFD})
	if err != nil {
		return fmt.Errorf("opening conntrack event socket: %w", err)
	}
	evCh := make(chan conntrack.Event, 1024)
	var errCh chan error
	defer func() { closeListener(c, evCh, errCh) }()
	// The kernel caps the buffer at net.core.rmem_max; a smaller buffer
	// still works, it only overflows sooner.
	_ = c.SetReadBuffer(eventReadBuffer)
	errCh, err = c.Listen(evCh, 1, []netfilter.NetlinkGroup{netfilter.GroupCTNew, netfilter.GroupCTDestroy})
	if err != nil {
		return fmt.Errorf("subscribing to conntrack events: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errCh:
			return fmt.Errorf("receiving conntrack events: %w", err)
		case ke := <-evCh:
			if ke.Flow == nil {
				continue
			}
			f := fromKernel(ke.Flow)
			if !r.selects(&f) {
				continue
			}
			if err := emit(newEvent(ke.Type == conntrack.EventDestroy, f, r)); err != nil {
				return err
			}
		}
	}
}

// closeListener closes c while draining its channels: the library's worker
// blocks on unbuffered sends, and Close waits for it.
func closeListener(c *conntrack.Conn, evCh chan conntrack.Event, errCh chan error) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-evCh:
			case <-errCh:
			case <-done:
				return
			}
		}
	}()
	_ = c.Close()
	close(done)
}

func newEvent(destroy bool, f Flow, r Rules) Event {
	e := Event{Time: time.Now(), Type: "new", Proto: f.Proto.String(),
		Peer: f.Orig.Src.Addr().Unmap().WithZone(""), PeerPort: f.Orig.Src.Port(),
		Endpoint: unmapPort(f.Reply.Src).String(), State: f.StateName()}
	if destroy {
		e.Type = "destroy"
	}
	if d := unmapPort(f.Orig.Dst); d != unmapPort(f.Reply.Src) {
		e.Dialled = d.String()
	}
	e.Verdict, e.Entry = r.Judge(f)
	return e
}
