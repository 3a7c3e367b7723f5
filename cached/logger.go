package cached

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/store"
)

// The log streams behind `watch`, built as memcached's logger.c: request
// handlers record events into a bounded per-worker buffer; one logger
// goroutine renders them and offers each line to every watcher that asked
// for its stream, into a bounded per-watcher buffer that a goroutine of the
// watcher's own writes to its socket. A full worker buffer drops the event
// (log_worker_dropped); a full watcher buffer skips the line for that
// watcher (log_watcher_skipped) and tells it "skipped=N" once it has room.
// Nobody blocks on a slow watcher.
//
// While nobody watches a stream, recording it costs one atomic load.

const (
	maxWatchers = 20 // memcached's WATCHER_LIMIT
	// An entry is charged memcached's header size, and one is accepted
	// only while a whole 512-byte entry would still fit, as its bipbuf
	// reservation works.
	logEntryHeader  = 40
	logEntryReserve = 512
	// A watcher needs room for the line and a "skipped=N" note.
	watcherSlack = 128
)

// logger is one server's log streams.
type logger struct {
	flags  atomic.Uint32 // union of what the watchers ask for
	gid    atomic.Uint64 // the order of events across workers
	shards []logShard
	wake   chan struct{}
	done   chan struct{}
	start  sync.Once
	store  *store.Store

	watcherBuf int

	mu       sync.Mutex
	watchers []*watcher

	dropped, written, skipped, sent atomic.Uint64
}

// logShard is one worker's buffer of recorded events.
type logShard struct {
	mu      sync.Mutex
	entries []protocol.LogEntry
	keys    []byte // the entries' keys, copied
	used    int
	cap     int
}

func newLogger(workers, workerBuf, watcherBuf int, st *store.Store) *logger {
	l := &logger{
		shards:     make([]logShard, max(workers, 1)),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		store:      st,
		watcherBuf: watcherBuf,
	}
	for i := range l.shards {
		l.shards[i].cap = workerBuf
	}
	return l
}

// on reports whether anyone watches stream f.
func (l *logger) on(f protocol.LogFlags) bool { return l.flags.Load()&uint32(f) != 0 }

// record queues an event; shard picks the worker buffer (a descriptor
// number spreads connections over them).
func (l *logger) record(shard int, e *protocol.LogEntry) {
	sh := &l.shards[uint(shard)%uint(len(l.shards))]
	now := time.Now()
	sh.mu.Lock()
	if sh.used+logEntryHeader+logEntryReserve > sh.cap {
		sh.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	e.GID = l.gid.Add(1)
	e.Sec, e.Usec = now.Unix(), int32(now.Nanosecond()/1000)
	start := len(sh.keys)
	sh.keys = append(sh.keys, e.Key...)
	// Full slice expression: a later append that moves sh.keys leaves
	// this entry's key where it was.
	e.Key = sh.keys[start:len(sh.keys):len(sh.keys)]
	sh.entries = append(sh.entries, *e)
	sh.used += logEntryHeader + 32 + len(e.Key)
	sh.mu.Unlock()
	l.written.Add(1)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run renders queued events to the watchers until the server stops.
func (l *logger) run() {
	var entries []protocol.LogEntry
	var keys, line []byte
	for {
		select {
		case <-l.wake:
		case <-l.done:
			return
		}
		for i := range l.shards {
			sh := &l.shards[i]
			sh.mu.Lock()
			entries, sh.entries = sh.entries, entries[:0]
			keys, sh.keys = sh.keys, keys[:0]
			sh.used = 0
			sh.mu.Unlock()
			for j := range entries {
				line = protocol.AppendLogLine(line[:0], &entries[j])
				l.offer(&entries[j], line)
			}
		}
	}
}

// offer gives a rendered line to every watcher of its stream.
func (l *logger) offer(e *protocol.LogEntry, line []byte) {
	stream := e.Event.Stream()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.watchers {
		if w.flags&stream == 0 || e.GID < w.minGID {
			continue
		}
		if w.offer(line) {
			l.sent.Add(1)
		} else {
			l.skipped.Add(1)
		}
	}
}

// add registers a watcher; false when the limit is reached.
func (l *logger) add(w *watcher) bool {
	l.start.Do(func() { go l.run() })
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.watchers) >= maxWatchers {
		return false
	}
	w.minGID = l.gid.Load() + 1
	l.watchers = append(l.watchers, w)
	l.setFlags()
	return true
}

func (l *logger) remove(w *watcher) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.watchers {
		if o == w {
			l.watchers = append(l.watchers[:i], l.watchers[i+1:]...)
			break
		}
	}
	l.setFlags()
}

// setFlags recomputes what is recorded (l.mu held). The store reports
// evictions only while someone watches them.
func (l *logger) setFlags() {
	var f protocol.LogFlags
	for _, w := range l.watchers {
		f |= w.flags
	}
	l.flags.Store(uint32(f))
	if f&protocol.LogEvictions != 0 {
		l.store.SetEvictionHook(l.recordEviction)
	} else {
		l.store.SetEvictionHook(nil)
	}
}

func (l *logger) recordEviction(ev *store.Eviction) {
	l.record(0, &protocol.LogEntry{Event: protocol.EventEviction, Key: ev.Key, Fetched: ev.Fetched,
		TTL: ev.TTL, LastAcc: ev.LastAccess, Class: ev.Class, Size: int32(ev.Len)})
}

func (l *logger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.watchers)
}

func (l *logger) stop() { close(l.done) }

// resetStats is `stats reset` for the log_* counters.
func (l *logger) resetStats() {
	l.dropped.Store(0)
	l.written.Store(0)
	l.skipped.Store(0)
	l.sent.Store(0)
}
