package store

import (
	"runtime"
	"sync"
	"time"
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

// background is the store's maintainer goroutine.
type background struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func (s *Store) startMaintainer() {
	b := &background{stop: make(chan struct{}), done: make(chan struct{})}
	s.bg = b
	go s.maintain(b)
}

// halt stops the goroutine and waits for it (lock not held).
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
	sched := maintainerSchedule{
		next:    make([]time.Duration, len(s.classes)),
		backoff: make([]time.Duration, len(s.classes)),
	}
	toSleep := minMaintainerSleep
	timer := time.NewTimer(toSleep)
	defer timer.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-timer.C:
		}
		toSleep = s.maintainRound(&sched, max(toSleep, minMaintainerSleep))
		// memcached's thread spins while a class has work; this one shares
		// the clients' lock, so it pauses at least a millisecond, in which
		// a pass of up to 500 moves per class keeps up with any set rate.
		timer.Reset(max(toSleep, minMaintainerSleep))
	}
}

// maintainRound juggles every class whose wait is over and returns how
// long to sleep before the next round. It holds the lock for the whole
// round, letting clients in between batches, so an idle class costs a
// glance at its lists rather than a lock handoff.
func (s *Store) maintainRound(sched *maintainerSchedule, lastSleep time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.LRUMaintainerJuggles++
	s.autoCrawlCheck(s.Now())
	toSleep := maxMaintainerSleep
	for id := smallestCls; id < len(s.classes); id++ {
		sched.next[id] = max(sched.next[id]-lastSleep, 0)
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
	return toSleep
}

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
func (s *Store) yieldLock() uint32 {
	s.mu.Unlock()
	runtime.Gosched()
	s.mu.Lock()
	return s.Now()
}
