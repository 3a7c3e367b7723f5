package store

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
	_ "unsafe" // for go:linkname
)

// The LRU maintainer is memcached's lru_maintainer_thread: a goroutine
// owned by the store that keeps each class's HOT and WARM segments within
// their limits, reclaims expired TEMP items, and sleeps longer the less it
// finds to do. It takes the store lock in short batches, so clients wait at
// most one batch behind it.

const (
	minMaintainerSleep = time.Millisecond // MIN_LRU_MAINTAINER_SLEEP
	maxMaintainerSleep = time.Second      // MAX_LRU_MAINTAINER_SLEEP
	// juggleRounds bounds one class's juggle, as memcached's 500.
	juggleRounds = 500
	// juggleBatch is how many rounds run per hold of the store lock: each
	// round is at most a few tail moves, so a batch stays in microseconds.
	juggleBatch = 32
)

// background is the store's maintainer: its goroutine, and the schedule
// that goroutine shares with the server's worker loops.
//
// A busy loop runs the round itself when one is due (MaintainIfDue), at
// most every loopRoundEvery: waking a goroutine for every round costs the
// Go scheduler a thread wake-up and a lock handoff each time, 3-5% of the
// daemon's CPU per request at 70% of W1's peak (bench compare). The goroutine
// covers whatever the loops do not: it runs rounds while no loop has, and
// otherwise only checks back every loopsWatchFor.
type background struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once

	epoch time.Time // the schedule's times count from here
	// due is when the next round may run, in nanoseconds since epoch: the
	// loops read it without the lock, on every round of theirs. It is
	// roundRunning while a round lets the lock go between its batches.
	due atomic.Int64

	// Under the store lock:
	sched maintainerSchedule
	last  time.Duration // when the last round started, since epoch
	lent  bool          // a loop ran a round since the goroutine last looked

	// The goroutine's own: huge pages taken from the arena's queue.
	collapse []pendingCollapse
}

// roundRunning is background.due during a round: no one starts another.
const roundRunning = math.MaxInt64

// loopsWatchFor is how long the goroutine leaves the rounds to the loops
// after one of them ran one; if they go quiet it takes over within this.
const loopsWatchFor = 20 * time.Millisecond

func (s *Store) startMaintainer() {
	s.bg = newBackground(len(s.classes))
	go s.maintain(s.bg)
}

func newBackground(classes int) *background {
	return &background{
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		epoch: time.Now(),
		sched: maintainerSchedule{next: make([]time.Duration, classes), backoff: make([]time.Duration, classes)},
	}
}

// halt stops the goroutine and waits for it (lock not held). Loops no
// longer run rounds either.
func (b *background) halt() {
	if b == nil {
		return
	}
	b.once.Do(func() { close(b.stop) })
	<-b.done
}

// maintainerSchedule is memcached's per-class sleep: a class where a juggle
// found nothing waits 1 ms, then 1/8 longer each time up to 1 s; one with
// work halves its wait down to none.
type maintainerSchedule struct {
	next, backoff []time.Duration
}

func (s *Store) maintain(b *background) {
	defer close(b.done)
	timer := time.NewTimer(minMaintainerSleep)
	defer timer.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-timer.C:
		}
		timer.Reset(s.maintainerTurn(b, time.Since(b.epoch)))
		if len(b.collapse) > 0 {
			s.collapseHugePages(b.collapse)
			b.collapse = b.collapse[:0]
		}
	}
}

// maintainerTurn is the goroutine's wake-up: it runs the round no loop
// has run and returns how long to sleep.
func (s *Store) maintainerTurn(b *background, now time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Under the lock the goroutine takes anyway: the huge pages to
	// collapse once it has let the lock go (hugepages.go).
	b.collapse, s.arena.collapse = s.arena.collapse, b.collapse
	if b.lent || b.due.Load() == roundRunning {
		b.lent = false
		return loopsWatchFor
	}
	if wait := time.Duration(b.due.Load()) - now; wait > 0 {
		return wait
	}
	// memcached's thread spins while a class has work; this one shares
	// the clients' lock, so it pauses at least a millisecond, in which
	// a pass of up to 500 moves per class keeps up with any set rate.
	return s.round(b, now, minMaintainerSleep)
}

// MaintainIfDue runs the LRU maintainer's round on the caller's thread if
// one is due. The worker loops call it between their rounds with the time
// they already read, so while they are busy no goroutine needs waking for
// it; memcached's maintainer thread does the same work on a core of its
// own.
func (s *Store) MaintainIfDue(now time.Time) {
	b := s.bg
	if b == nil {
		return
	}
	at := now.Sub(b.epoch)
	if int64(at) < b.due.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-b.stop:
		return // the store is closing
	default:
	}
	if int64(at) < b.due.Load() {
		return // another loop ran it, or is running it
	}
	b.lent = true
	s.round(b, at, loopRoundEvery)
}

// loopRoundEvery spaces the rounds the loops run. A round with work does
// up to 500 moves per class and stalls the loop's connections meanwhile;
// under a read-heavy load active items cycle between COLD and WARM and
// every round finds a full 500 (W5: 3x the moves, 8% more CPU per key and
// 3x the paced p50 at 1 ms). Ages are whole seconds, so rounds 5 ms apart
// make the same age decisions, and 500 moves per class every 5 ms is
// 100,000 a second, more than any set rate here.
const loopRoundEvery = 5 * time.Millisecond

// round runs one maintainer round (lock held) and schedules the next at
// least pause later; it returns the wait.
func (s *Store) round(b *background, now, pause time.Duration) time.Duration {
	b.due.Store(roundRunning)
	toSleep := max(s.maintainRound(&b.sched, max(now-b.last, minMaintainerSleep)), pause)
	b.last = now
	b.due.Store(int64(now + toSleep))
	return toSleep
}

// maintainRound juggles every class whose wait is over and returns how
// long to sleep before the next round; elapsed is the time since the last
// one. The caller holds the lock for the whole round, which lets clients
// in between batches, so an idle class costs a glance at its lists rather
// than a lock handoff.
func (s *Store) maintainRound(sched *maintainerSchedule, elapsed time.Duration) time.Duration {
	s.st.LRUMaintainerJuggles++
	s.autoCrawlCheck(s.Now())
	toSleep := maxMaintainerSleep
	for id := smallestCls; id < len(s.classes); id++ {
		sched.next[id] = max(sched.next[id]-elapsed, 0)
		if sched.next[id] > 0 {
			toSleep = min(toSleep, sched.next[id])
			continue
		}
		bo := sched.backoff[id]
		if s.juggle(uint8(id)) == 0 {
			bo = min(max(bo+bo/8, minMaintainerSleep), maxMaintainerSleep)
		} else if bo > 0 {
			if bo /= 2; bo < minMaintainerSleep {
				bo = 0
			}
		}
		sched.backoff[id], sched.next[id] = bo, bo
		toSleep = min(toSleep, bo)
	}
	if s.automoveCheck(s.Now()) {
		// A page went to the global pool: look again soon.
		toSleep = min(toSleep, minMaintainerSleep)
	}
	if s.idx.expanding() {
		// Inserts move the index a few slots each, so a cache that is
		// only read after a bulk load would keep both arrays, and probe
		// the old one on every miss, for good; memcached's expansion
		// thread finishes without writes. Rounds finish it instead.
		s.idx.migrate(roundMigrateSlots)
		if s.idx.expanding() {
			toSleep = minMaintainerSleep
		}
	}
	return toSleep
}

// roundMigrateSlots is how much of a resize one round moves: about 50 us
// on a table of two million slots, so a round stalls the loop that runs it
// no longer than a juggle batch does, and rounds alone still finish that
// table in seconds.
const roundMigrateSlots = 1024

// juggle is memcached's lru_maintainer_juggle for one class (lock held):
// reclaim expired TEMP items, then push HOT and WARM tails down into COLD
// while they are over their share of the class's bytes or older than their
// age limit (a factor of COLD's tail age), and rescue active COLD items
// into WARM. It returns the number of rounds that did something.
func (s *Store) juggle(id uint8) int {
	moves := 0
	now := s.Now()
	if s.cfg.TempLRU {
		for i := 0; i < juggleRounds; i++ {
			if i%juggleBatch == juggleBatch-1 {
				now = s.yieldLock()
			}
			if s.pullTail(id, segTemp, 0, 0, 0, now) <= 0 {
				break
			}
			moves++
		}
	}
	total, hotAge, warmAge := s.juggleLimits(id, now)
	for i := 0; i < juggleRounds; i++ {
		if i%juggleBatch == juggleBatch-1 {
			now = s.yieldLock()
		}
		more := 0
		if s.pullTail(id, segHot, total, 0, hotAge, now) > 0 ||
			s.pullTail(id, segWarm, total, 0, warmAge, now) > 0 {
			more++
		}
		if s.cfg.LRUSegmented {
			more += s.pullTail(id, segCold, total, 0, 0, now)
		}
		if more == 0 {
			break
		}
		moves++
	}
	return moves
}

// juggleLimits returns the class's item bytes and the oldest HOT and WARM
// tails allowed. Flat, all are zero, which drains any HOT and WARM items
// left from segmented mode into COLD.
func (s *Store) juggleLimits(id uint8, now uint32) (total uint64, hotAge, warmAge uint32) {
	if !s.cfg.LRUSegmented {
		return 0, 0, 0
	}
	c := &s.classes[id]
	var coldAge uint32
	if t := c.lru[segCold].tail; t != 0 {
		coldAge = now - s.word(t, offTime)
	}
	total = c.lru[segHot].bytes + c.lru[segWarm].bytes + c.lru[segCold].bytes
	hotAge = uint32(float64(coldAge) * s.cfg.HotMaxFactor)
	warmAge = uint32(float64(coldAge) * s.cfg.WarmMaxFactor)
	return total, hotAge, warmAge
}

// yieldLock lets waiting clients in between two batches of background work
// and returns the time after it. The clients may have stamped items with a
// later second than the batch before read; aged against the older time,
// their age would wrap to years and send them to COLD at once (memcached's
// lru_pull_tail reads the clock afresh for the same reason).
//
// It yields with goyield, not Gosched: a client parked on the lock was
// made runnable on this P by the Unlock, and goyield runs it next without
// waking anyone, where Gosched also woke an idle thread that mostly found
// nothing and slept again. A worker loop runs most rounds, so under a set-
// heavy load (memcaslap) that was a third of the daemon's futex calls.
func (s *Store) yieldLock() uint32 {
	s.mu.Unlock()
	goyield()
	s.mu.Lock()
	return s.Now()
}

// goyield is runtime.goyield, which the runtime keeps reachable by
// linkname for packages outside it (go.dev/issue/67401).
//
//go:linkname goyield runtime.goyield
func goyield()
