package cached

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How a worker loop waits for ready connections, and when it lets the
// goroutines it woke run.

// wait returns how many connections are ready, blocking only when none
// is. A wait that blocked long enough for the runtime to hand the
// thread's P, with what waits on it, to another thread counts as a yield.
//
// Under saturation a probe (readyNow) almost always finds work and spares
// the scheduler's bookkeeping; below it, right after a round the probe
// mostly finds nothing and the loop makes a second call to block. Paced
// at 70% of W1's peak that was 0.26 extra epoll calls per request beside
// memcached's one (perf stat). So the loop probes only while probing
// pays: after a probe that finds nothing it goes straight to the blocking
// wait, until a blocking wait returns at once, which means work is
// queuing again.
func (l *eventLoop) wait(idle int, lastYield *time.Duration) (int, error) {
	if l.probe {
		n, err := readyNow(l.epfd, l.events[:])
		if n > 0 || err != nil && err != unix.EINTR {
			return n, err
		}
		l.probe = false
	}
	// With yielded connections waiting the timeout is 0 and this call
	// does not block either.
	timeout := l.waitTimeout(idle)
	start := l.now()
	n, err := unix.EpollWait(l.epfd, l.events[:], timeout)
	waited := l.now() - start
	if waited > loopYieldEvery/4 {
		*lastYield = start
	}
	l.probe = n > 0 && waited < probeAgainUnder
	return n, err
}

// now is the loop's clock for its yields and the maintainer's rounds,
// read up to three times a round: the time since the loop started. It
// reads only the monotonic clock, where time.Now reads the wall clock
// too: two vDSO calls where this makes one (60-80 ns against 35-45 on a
// 2 vCPU VM; at W9 the clock reads were 1.3-1.7% of the daemon's CPU).
func (l *eventLoop) now() time.Duration { return time.Since(l.epoch) }

// probeAgainUnder is how quickly a blocking wait must return for the
// loop to take it as not having blocked: a wake-up from epoll_wait takes
// longer than this on any machine this runs on.
const probeAgainUnder = 5 * time.Microsecond

// loopYieldEvery bounds how long a busy loop keeps its P from the
// goroutines it woke.
const loopYieldEvery = time.Millisecond

// yieldIfBusy lets the goroutines this loop woke run (the other loop,
// parked on the store's lock, or a background goroutine): they wait in this P's
// run queue, and under load epoll_wait returns at once, so the loop never
// blocks and only the runtime's 10 ms preemption would let them run; one
// request then waits 10 ms. The loop yields at most once a millisecond.
//
// It yields with the runtime's goyield, not Gosched. Gosched puts the loop
// on the global run queue and wakes an idle P's thread, which mostly finds
// nothing and sleeps again: under memcaslap 70% of the daemon's futex wake-
// ups came from it, each two context switches on CPUs the clients need.
// goyield puts the loop at the back of its own P's queue and wakes nobody.
func (l *eventLoop) yieldIfBusy(now, last time.Duration) time.Duration {
	if now-last < loopYieldEvery {
		return last
	}
	goyield()
	return now
}

// goyield is runtime.goyield, which the runtime keeps reachable by
// linkname for packages outside it (go.dev/issue/67401).
//
//go:linkname goyield runtime.goyield
func goyield()

// waitTimeout is how long epoll_wait may block: not at all while yielded
// connections wait for their next turn.
func (l *eventLoop) waitTimeout(idle int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.yielded) > 0 {
		return 0
	}
	return idle
}

// readyNow is epoll_wait with a zero timeout, without the scheduler's
// system call bookkeeping. Under load a loop almost always finds
// connections ready, and a call that cannot block never needs its P
// handed over; only when nothing is ready does the loop block in the
// ordinary (scheduler-aware) epoll_wait.
func readyNow(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))),
		uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
