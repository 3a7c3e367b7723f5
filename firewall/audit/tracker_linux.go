package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultMaxFlows bounds a Tracker's table: at about 300 bytes a flow
// (264 of key and value, plus the map's slack), 65,536 flows cost some
// 20 MB. Past it the table declares itself out of sync and audits read
// the kernel's dump instead.
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
	fd    int // the event socket; -1 once closed (under mu)
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
	// stop ends the reader when the table can never be in sync again;
	// final (under mu) is then why, and what the table keeps saying.
	stop  context.CancelFunc
	final string
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
	t := &Tracker{fd: -1, buf: make([]byte, dumpBufSize), log: cfg.Log, tab: newFlowTable(cfg.Ports, cfg.MaxFlows),
		resync: make(chan struct{}, 1), synced: make(chan struct{})}
	if err := t.open(cfg.ReadBuffer); err != nil {
		return nil, err
	}
	ctx, t.stop = context.WithCancel(ctx)
	go t.read(ctx)
	go t.resyncLoop(ctx)
	t.resync <- struct{}{}
	return t, nil
}

// open subscribes first and only then opens the dump's socket, on one
// thread so both live in the namespace that thread reports.
func (t *Tracker) open(readBuffer int) (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return fmt.Errorf("tracking conntrack flows: naming the network namespace: %w", err)
	}
	t.netns = st.Ino
	// A plain blocking socket, outside the runtime's poller: there, every
	// datagram the kernel queues would wake a thread, even while the
	// reader pauses between batches.
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("opening the conntrack event socket: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	// As root, beyond net.core.rmem_max; else up to it. Smaller only
	// overflows sooner.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, readBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, readBuffer)
	}
	// Filter before subscribing, so not even the first events of other
	// flows are queued. Without it the tracker is as right, only dearer:
	// userspace makes the same check on every event it reads.
	if err := attachEventFilter(fd, t.tab.ports); err != nil {
		t.log.Warn("every conntrack event on the host will be read and judged in userspace", "err", err)
	}
	groups := uint32(1<<(groupCTNew-1) | 1<<(groupCTUpdate-1) | 1<<(groupCTDestroy-1))
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		return fmt.Errorf("subscribing to conntrack events (needs CAP_NET_ADMIN): %w", err)
	}
	if t.rd, err = Open(0); err != nil {
		return fmt.Errorf("tracking conntrack flows: %w", err)
	}
	t.fd = fd
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
// calls fn with each flow. fn must not keep the *Flow. A tracker that
// stopped answers with its status, which says why it is out of sync.
func (t *Tracker) Flows(fn func(*Flow)) (TableStatus, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return t.tab.status(), nil
	}
	if _, err := t.drain(); err != nil {
		return t.tab.status(), err
	}
	st := t.tab.status()
	if st.InSync {
		for _, f := range t.tab.flows {
			fn(&f)
		}
	}
	return st, nil
}

// readPause is how long the reader lets events gather after a batch.
// Consistency does not depend on it (Flows drains the socket before it
// answers); it only keeps the socket from overflowing, and a wakeup per
// event, on a host opening thousands of connections a second, would
// cost more than the events themselves. 4 MB of buffer hold thousands of
// events, far more than 2 ms bring on any host.
const readPause = 2 * time.Millisecond

// pollTimeout bounds a wait for events, so the reader sees ctx end.
const pollTimeout = 200 // milliseconds

// read follows the event socket until ctx ends, then closes it.
func (t *Tracker) read(ctx context.Context) {
	err := t.follow(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.log.Error("conntrack event tracking stopped", "err", err)
	}
	unix.Close(t.fd)
	t.fd = -1
	t.rd.Close()
	reason := "the daemon stopped following conntrack events"
	if t.final != "" {
		reason = t.final
	}
	t.tab.outOfSync(reason)
}

func (t *Tracker) follow(ctx context.Context) error {
	pfd := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}}
	for ctx.Err() == nil {
		t.mu.Lock()
		n, err := t.drain()
		t.mu.Unlock()
		switch {
		case err != nil:
			return err
		case n > 0:
			time.Sleep(readPause)
			continue
		}
		if _, err := unix.Poll(pfd, pollTimeout); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("waiting for conntrack events: %w", err)
		}
	}
	return nil
}

// drain reads the socket until nothing is queued and returns how many
// datagrams it read. Called with mu held.
func (t *Tracker) drain() (int, error) {
	if t.fd < 0 {
		return 0, errors.New("the conntrack event socket is closed")
	}
	for read := 0; ; read++ {
		n, _, err := unix.Recvfrom(t.fd, t.buf, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return read, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			t.tab.lost()
			t.log.Warn("conntrack events were lost; resynchronising from a dump")
			t.askResync()
			continue
		case err != nil:
			return read, fmt.Errorf("reading conntrack events: %w", err)
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
	was := t.tab.st.InSync
	t.tab.event(destroy, &t.scratch)
	if was && !t.tab.st.InSync {
		// Past the bound: try again from a dump, which keeps failing
		// (less and less often) until the cache's flows shrink.
		t.askResync()
	}
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
			// This attempt answers every request made so far; a loss
			// from now on asks again.
			select {
			case <-t.resync:
			default:
			}
			err := t.sync()
			if err == nil {
				t.syncOnce.Do(func() { close(t.synced) })
				break
			}
			if errors.Is(err, unix.EPERM) {
				t.giveUp(err)
				return
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
