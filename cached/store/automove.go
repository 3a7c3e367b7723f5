package store

import "errors"

// slab_automove 1 is memcached's windowed rule (slab_automove.c): once a
// second the maintainer samples every class; over the last window of
// samples, a page moves from the class whose COLD tail is oldest to the
// one that keeps evicting with the youngest tail, when the young one's age
// is below slab_automove_ratio of the old one's; and a class that has held
// more than 2.5 pages of free chunks with no evictions, no out-of-memory
// and no new page for a whole window gives a page back to the global pool.

const (
	minPagesForSource  = 2   // MIN_PAGES_FOR_SOURCE
	minPagesForReclaim = 2.5 // MIN_PAGES_FOR_RECLAIM
)

// automoveSample is one class at one second (memcached's
// item_stats_automove plus slab_stats_automove).
type automoveSample struct {
	evicted, outOfMemory uint64
	age                  uint32 // COLD tail age
	pages, free, perPage uint32
}

type automoveWindow struct {
	age, dirty, evictedSeen uint64
	evictedRatio            float32
}

// automover is the window state of slab_automove 1.
type automover struct {
	size    uint32
	cur     uint32
	ratio   float64
	window  []automoveWindow // size entries per class
	before  []automoveSample
	scratch []automoveSample
}

func (s *Store) newAutomover() *automover {
	m := &s.mover
	a := &automover{
		size:   m.window,
		ratio:  m.ratio,
		window: make([]automoveWindow, uint32(len(s.classes))*m.window),
		before: make([]automoveSample, len(s.classes)),
	}
	s.sampleClasses(a.before)
	return a
}

// sampleClasses fills dst with every class's counters (lock held).
func (s *Store) sampleClasses(dst []automoveSample) {
	now := s.Now()
	for id := smallestCls; id < len(s.classes); id++ {
		c := &s.classes[id]
		d := automoveSample{
			evicted: c.st.Evicted, outOfMemory: c.st.OutOfMemory,
			pages: c.pages, free: c.nfree + c.endLeft, perPage: c.perPage,
		}
		if t := c.lru[segCold].tail; t != 0 {
			d.age = now - s.word(t, offTime)
		}
		dst[id] = d
	}
}

// run is slab_automove_run: it returns src and dst, -1 for no move, dst 0
// for the global pool.
func (a *automover) run(s *Store) (src, dst int) {
	after := a.scratch
	if after == nil {
		after = make([]automoveSample, len(a.before))
	}
	s.sampleClasses(after)
	var evictedTotal uint64
	for n := smallestCls; n < len(after); n++ {
		evictedTotal += after[n].evicted - a.before[n].evicted
	}
	a.cur++
	src, dst = -1, -1
	oldest, youngest := -1, -1
	var oldestAge uint64
	youngestAge := ^uint64(0)
	youngestEvicting := false
	for n := smallestCls; n < len(after); n++ {
		wins := a.window[uint32(n)*a.size : uint32(n+1)*a.size]
		wd := &wins[a.cur%a.size]
		*wd = a.sample(&a.before[n], &after[n], evictedTotal)
		var sum automoveWindow
		for _, w := range wins {
			sum.age += w.age
			sum.dirty += w.dirty
			sum.evictedRatio += w.evictedRatio
			sum.evictedSeen += w.evictedSeen
		}
		age := sum.age / uint64(a.size)
		if float64(after[n].free) > float64(after[n].perPage)*minPagesForReclaim && sum.dirty == 0 {
			src, dst, oldest, youngest = n, 0, -1, -1
			break
		}
		if age > oldestAge && after[n].pages > minPagesForSource {
			oldest, oldestAge = n, age
		}
		if age < youngestAge && (sum.evictedSeen > uint64(a.size/2) || sum.evictedRatio/float32(a.size) > 0.25) {
			youngest, youngestAge, youngestEvicting = n, age, wd.evictedSeen != 0
		}
	}
	a.before, a.scratch = after, a.before
	if youngest != -1 && oldest != -1 && a.cur > a.size &&
		float64(youngestAge) < float64(oldestAge)*a.ratio && youngestEvicting {
		src, dst = oldest, youngest
	}
	return src, dst
}

// sample is one class's window entry for this second.
func (a *automover) sample(before, after *automoveSample, evictedTotal uint64) automoveWindow {
	var w automoveWindow
	if d := after.evicted - before.evicted; d > 0 {
		w.evictedRatio = float32(d) / float32(evictedTotal)
		w.evictedSeen, w.dirty = 1, 1
	}
	if after.outOfMemory > before.outOfMemory || after.pages > before.pages {
		w.dirty = 1
	}
	w.age = uint64(after.age)
	return w
}

// automoveCheck runs slab_automove 1 at most once a second from the
// maintainer (lock held). It reports whether a page went to the global
// pool, in which case memcached checks again without waiting.
func (s *Store) automoveCheck(now uint32) bool {
	m := &s.mover
	if m.automove != 1 || m.lastCheck == now || !m.enabled {
		return false
	}
	if m.auto == nil || m.auto.ratio != m.ratio {
		m.auto = s.newAutomover()
	}
	src, dst := m.auto.run(s)
	if src != -1 && dst != -1 {
		s.reassign(src, dst)
	}
	if dst != 0 {
		m.lastCheck = now
		return false
	}
	return true
}

// ErrAutomoveLevel is `slabs automove` with a level other than 0, 1, 2.
// ErrAutomoveLevel refuses a slab_automove level memcached does not have,
// with its message.
var ErrAutomoveLevel = errors.New("slab_automove must be between 0 and 2")

// SetAutomove sets slab_automove (`slabs automove 0|1|2`).
func (s *Store) SetAutomove(level int) error {
	if level < 0 || level > 2 {
		return ErrAutomoveLevel
	}
	s.mu.Lock()
	s.mover.automove = level
	s.mu.Unlock()
	return nil
}

// SetAutomoveRatio sets slab_automove_ratio (`slabs automove ratio R`).
func (s *Store) SetAutomoveRatio(r float64) {
	s.mu.Lock()
	s.mover.ratio = r
	s.mu.Unlock()
}
