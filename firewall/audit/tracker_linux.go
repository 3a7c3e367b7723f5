package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// DefaultMaxFlows bounds a Tracker's table: at about 250 bytes a flow,
// 65,536 flows on the cache ports cost some 16 MB. Past it the table
// declares itself out of sync and audits read the kernel's dump instead.
const DefaultMaxFlows = 1 << 16

// ctnetlink's event groups (enum nfnetlink_groups).
const (
	groupCTNew     = 1
	groupCTUpdate  = 2
	groupCTDestroy = 3
)

// trackerReadBuffer is the event socket's receive buffer. A burst larger
// than it is lost (ENOBUFS) and costs a resynchronising dump, not a wrong
// answer.
const trackerReadBuffer = 4 << 20

// Tracker keeps the flows of the cache's ports from conntrack events, so
// that an audit reads them without the kernel walking the host's whole
// table. It subscribes before its first dump, so no flow falls between
// the two, and before answering it reads every event already queued on
// its socket: the kernel queues an event when it confirms, updates or
// destroys a flow, so the answer is the table as of the question.
type Tracker struct {
	ev    *netlink.Conn
	raw   syscall.RawConn
	buf   []byte
	rd    *Reader
	netns uint64
	log   *slog.Logger

	mu       sync.Mutex
	tab      *flowTable
	scratch  Flow // decoded events land here; only under mu
	resync   chan struct{}
	synced   chan struct{} // closed at the first synchronisation
	syncOnce sync.Once
}

// TrackerConfig says what a Tracker follows.
type TrackerConfig struct {
	Ports    []Port
	MaxFlows int // 0 means DefaultMaxFlows
	// ReadBuffer is the event socket's buffer; 0 means a few MB.
	ReadBuffer int
	Log        *slog.Logger
}

// StartTracker subscribes to conntrack events in the caller's network
// namespace, then synchronises from a filtered dump in the background and
// follows the events until ctx ends.
func StartTracker(ctx context.Context, cfg TrackerConfig) (*Tracker, error) {
	if len(cfg.Ports) == 0 {
		return nil, errors.New("tracking conntrack flows: no port to track")
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = trackerReadBuffer
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{buf: make([]byte, dumpBufSize), log: cfg.Log, tab: newFlowTable(cfg.Ports, cfg.MaxFlows),
		resync: make(chan struct{}, 1), synced: make(chan struct{})}
	if err := t.open(cfg.ReadBuffer); err != nil {
		return nil, err
	}
	go t.read()
	go t.resyncLoop(ctx)
	go func() {
		<-ctx.Done()
		t.ev.Close()
		t.rd.Close()
	}()
	t.resync <- struct{}{}
	return t, nil
}

// open subscribes first and only then opens the dump's socket, on one
// thread so both live in the namespace that thread reports.
func (t *Tracker) open(readBuffer int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var fi os.FileInfo
	var err error
	if fi, err = os.Stat("/proc/thread-self/ns/net"); err != nil {
		return fmt.Errorf("tracking conntrack flows: naming the network namespace: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		t.netns = st.Ino
	}
	if t.ev, err = netlink.Dial(unix.NETLINK_NETFILTER, nil); err != nil {
		return fmt.Errorf("opening the conntrack event socket: %w", err)
	}
	// The kernel caps the buffer at net.core.rmem_max; smaller only
	// overflows sooner.
	_ = t.ev.SetReadBuffer(readBuffer)
	for _, g := range []uint32{groupCTNew, groupCTUpdate, groupCTDestroy} {
		if err := t.ev.JoinGroup(g); err != nil {
			t.ev.Close()
			return fmt.Errorf("subscribing to conntrack events (needs CAP_NET_ADMIN): %w", err)
		}
	}
	if t.raw, err = t.ev.SyscallConn(); err == nil {
		t.rd, err = Open(0)
	}
	if err != nil {
		t.ev.Close()
		return fmt.Errorf("tracking conntrack flows: %w", err)
	}
	return nil
}

// NetNS is the inode of the network namespace the tracker follows, which
// an audit compares with the namespace it was asked about.
func (t *Tracker) NetNS() uint64 { return t.netns }

// WaitSync waits for the first synchronisation, or ctx.
func (t *Tracker) WaitSync(ctx context.Context) error {
	select {
	case <-t.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flows reads every event queued so far, then, if the table is in sync,
// calls fn with each flow. fn must not keep the *Flow.
func (t *Tracker) Flows(fn func(*Flow)) (TableStatus, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var derr error
	if err := t.raw.Control(func(fd uintptr) { derr = t.drain(int(fd)) }); err != nil {
		return t.tab.status(), fmt.Errorf("reading queued conntrack events: %w", err)
	}
	if derr != nil {
		return t.tab.status(), derr
	}
	st := t.tab.status()
	if st.InSync {
		for _, f := range t.tab.flows {
			fn(&f)
		}
	}
	return st, nil
}

// read follows the event socket until it is closed.
func (t *Tracker) read() {
	var derr error
	err := t.raw.Read(func(fd uintptr) bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		derr = t.drain(int(fd))
		return derr != nil
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	if err = errors.Join(err, derr); err != nil && !errors.Is(err, os.ErrClosed) {
		t.log.Error("conntrack event tracking stopped", "err", err)
	}
	t.tab.outOfSync("the daemon stopped following conntrack events")
}

// drain reads the socket until nothing is queued. Called with mu held.
func (t *Tracker) drain(fd int) error {
	for {
		n, _, err := unix.Recvfrom(fd, t.buf, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			t.tab.lost()
			t.log.Warn("conntrack events were lost; resynchronising from a dump")
			t.askResync()
			continue
		case err != nil:
			return fmt.Errorf("reading conntrack events: %w", err)
		}
		eachEvent(t.buf[:n], t.onEvent)
	}
}

// onEvent decodes just enough of an event to decide whether it is the
// cache's, and the rest only when it is. Called with mu held.
func (t *Tracker) onEvent(destroy bool, attrs []byte) {
	proto, port, ok := replySource(attrs)
	if !ok || !t.tab.tracks(proto, port) {
		return
	}
	if err := decodeFlow(attrs, &t.scratch); err != nil {
		t.log.Warn("undecodable conntrack event on the cache port", "err", err)
		return
	}
	t.tab.event(destroy, &t.scratch)
}

func (t *Tracker) askResync() {
	select {
	case t.resync <- struct{}{}:
	default:
	}
}

// resyncLoop runs a synchronisation whenever one is asked for, retrying
// with a growing pause while it fails (an overflowing table keeps failing
// until the cache's flows shrink below the bound).
func (t *Tracker) resyncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.resync:
		}
		for pause := 100 * time.Millisecond; ; pause = min(2*pause, 30*time.Second) {
			err := t.sync()
			if err == nil {
				t.syncOnce.Do(func() { close(t.synced) })
				break
			}
			t.log.Warn("conntrack flow table not in sync", "err", err, "retry_in", pause)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
	}
}
