package store

import "errors"

// Transparent huge pages for the item memory (unless -o no_huge_pages).
//
// On a million-item cache every lookup reads a random item; on 4 KiB pages
// that misses the TLB, and on a VM a miss walks two levels of page tables.
// memcached asks for huge pages only with -L, which advises all of -m up
// front, so a huge page is faulted in whole even where no page of it is
// handed out: RSS grows in 2 MiB steps, up to a MiB above what the items
// use (at 10,000 connections beside W1, 1.4 MB above the same daemon on base
// pages, 4% of its RSS).
//
// So the advice follows the pages handed out: a huge page is advised once
// every arena page in it has been handed out, and the LRU maintainer's
// goroutine then collapses it (MADV_COLLAPSE, Linux 6.1+) outside the store
// lock; older kernels leave the collapse to khugepaged. Until then its pages
// are base pages, so the newest huge page's unused part costs nothing. The
// arena starts page 1 on a huge page boundary (newArena), so page 0, never
// handed out, shares none with the items.
//
// A page cache_memlimit gives back (release) leaves the advice for good, or
// khugepaged could fill it in again to make a huge page with its live
// neighbour; handed out again, it stays on base pages.

// maxCollapseQueue bounds the huge pages waiting for the maintainer: 8 GiB.
const maxCollapseQueue = 4096

// completeHugePages advises the huge pages that page p, just handed out
// for the first time, completes, and queues them for collapse. Pages are
// handed out for the first time in order, so every page below p has been.
func (a *arena) completeHugePages(p uint32) {
	if !a.hugePages {
		return
	}
	ps := uint64(a.pageSize)
	start, end := uint64(p)*ps, uint64(p+1)*ps
	// Huge pages start at ps + k*hugePage in the mapping; take those that
	// end inside page p.
	for hp := ps + (start-ps)/hugePage*hugePage; hp+hugePage <= end; hp += hugePage {
		if adviseHugePages(a.mem[hp:hp+hugePage]) != nil {
			a.hugePages = false // the kernel has none; stop asking
			return
		}
		// Without a maintainer (no_lru_maintainer) nothing drains the
		// queue; khugepaged collapses what it leaves out.
		if len(a.collapse) < maxCollapseQueue && !a.noCollapse {
			a.collapse = append(a.collapse, pendingCollapse{off: hp})
		}
	}
}

// collapseHugePages collapses the huge pages completeHugePages queued,
// outside the lock: a collapse copies up to 2 MiB and may compact memory.
// Only the maintainer's goroutine calls it, with the queue its turn took
// under the lock; Close halts that goroutine before it unmaps the arena.
//
// A collapse right after a bulk load often fails with EAGAIN: pages
// faulted on another CPU are not on the kernel's LRU lists until that
// CPU's batch drains. Such a huge page goes back on the queue for the next
// turns, a few times at most; then khugepaged has it.
func (s *Store) collapseHugePages(todo []pendingCollapse) {
	a := s.arena
	var again []pendingCollapse
	for _, c := range todo {
		err := collapseHugePage(a.mem[c.off : c.off+hugePage])
		switch {
		case err == nil:
		case errors.Is(err, errCollapseBusy):
			if c.tries+1 < maxCollapseTries {
				again = append(again, pendingCollapse{c.off, c.tries + 1})
			}
		default:
			// An older kernel, without MADV_COLLAPSE: khugepaged
			// collapses advised memory on its own.
			s.mu.Lock()
			a.collapse, a.noCollapse = nil, true
			s.mu.Unlock()
			return
		}
	}
	if len(again) > 0 {
		s.mu.Lock()
		a.collapse = append(a.collapse, again...)
		s.mu.Unlock()
	}
}

// pendingCollapse is a huge page, by offset in the arena, waiting for
// collapseHugePages.
type pendingCollapse struct {
	off   uint64
	tries uint8
}

// maxCollapseTries is how many turns a huge page may fail to collapse.
const maxCollapseTries = 8
