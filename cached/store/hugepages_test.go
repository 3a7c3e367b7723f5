//go:build linux

package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// mapping is one line of /proc/self/smaps with its VmFlags.
type mapping struct {
	start, end uintptr
	anonHuge   uint64 // kB of the mapping on huge pages
	flags      []string
}

func (m mapping) has(flag string) bool {
	for _, f := range m.flags {
		if f == flag {
			return true
		}
	}
	return false
}

// mappingAt returns the mapping holding addr, if any.
func mappingAt(t *testing.T, addr uintptr) (mapping, bool) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatalf("reading the process's mappings: %v", err)
	}
	defer f.Close()
	var cur mapping
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "AnonHugePages:"); ok && in {
			cur.anonHuge, _ = strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			continue
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			if in {
				cur.flags = strings.Fields(rest)
				return cur, true
			}
			continue
		}
		span, _, _ := strings.Cut(line, " ")
		lo, hi, ok := strings.Cut(span, "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		cur = mapping{start: uintptr(start), end: uintptr(end)}
		in = cur.start <= addr && addr < cur.end
	}
	return mapping{}, false
}

// thpCompiledIn reports whether the kernel has transparent huge pages at
// all; madvise(MADV_HUGEPAGE) fails without them and the advice is moot.
func thpCompiledIn() bool {
	_, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil
}

func slotsAddr(x *index) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(x.slots))) }

func pageAddr(s *Store, p uint32) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(s.arena.page(p))))
}

// collapse runs what the maintainer's goroutine does with the queue.
func collapse(s *Store) {
	s.mu.Lock()
	todo := s.arena.collapse
	s.arena.collapse = nil
	s.mu.Unlock()
	s.collapseHugePages(todo)
}

// A grown hash index lives on huge-page-advised memory, on a 2 MiB
// boundary, and the array a doubling empties is unmapped at once.
func TestIndexArraysOnHugePages(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  bool
	}{{"default", false}, {"no_huge_pages", true}} {
		t.Run(tc.name, func(t *testing.T) {
			// Level 17 is 2^18 slots, 2 MiB: the smallest mapped array.
			s, _ := newStore(t, func(c *Config) { c.MemoryLimit, c.HashPower, c.NoHugePages = 256<<20, 17, tc.off })
			first := slotsAddr(&s.idx)
			if !s.idx.mapped || first%hugePage != 0 {
				t.Fatalf("a 2 MiB index at %#x: mapped %v, want mapped on a 2 MiB boundary", first, s.idx.mapped)
			}
			// Past 3/4 of the slots the table doubles; keep setting until
			// the migration has moved every entry.
			for i := 0; i <= 3<<18>>2 || s.idx.expanding(); i++ {
				set(t, s, fmt.Sprint("k", i), []byte("v"), 0)
			}
			if got := len(s.idx.slots); got != 1<<19 || !s.idx.mapped {
				t.Fatalf("after the doubling: %d slots, mapped %v; want 2^19, mapped", got, s.idx.mapped)
			}
			if m, ok := mappingAt(t, first); ok && m.start == first && m.end == first+hugePage {
				t.Fatalf("the emptied 2 MiB array at %#x is still mapped", first)
			}
			m, ok := mappingAt(t, slotsAddr(&s.idx))
			if !ok {
				t.Fatalf("the new array at %#x is in no mapping", slotsAddr(&s.idx))
			}
			if want := !tc.off && thpCompiledIn(); m.has("hg") != want {
				t.Fatalf("the new array's mapping has VmFlags %v; advised for huge pages (hg) = %v, want %v", m.flags, m.has("hg"), want)
			}
			for _, k := range []string{"k0", fmt.Sprint("k", 3<<18>>2)} {
				if v, _, ok := get(s, k); !ok || string(v) != "v" {
					t.Fatalf("%s = %q, %v after the doubling", k, v, ok)
				}
			}
		})
	}
}

// The item memory goes on huge pages as its pages are handed out: a huge
// page once both its arena pages are, and not before, so the unused half
// of the newest one costs no memory.
func TestArenaOnHugePages(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  bool
	}{{"default", false}, {"no_huge_pages", true}} {
		t.Run(tc.name, func(t *testing.T) {
			const page = 1 << 20
			s, _ := newStore(t, func(c *Config) { c.MemoryLimit, c.NoHugePages = 64*page, tc.off })
			addr := func(p uint32) uintptr { return pageAddr(s, p) }
			if addr(1)%hugePage != 0 {
				t.Fatalf("the arena's page 1 starts at %#x, want a 2 MiB boundary", addr(1))
			}
			for i := 0; s.Stats().TotalMalloced < 3*page; i++ { // pages 1 to 3 of the 103496-byte class
				set(t, s, fmt.Sprint("k", i), bigVal, 0)
			}
			collapse(s)
			want := !tc.off && thpCompiledIn()
			full, ok := mappingAt(t, addr(1))
			if !ok {
				t.Fatalf("pages 1 and 2 at %#x are in no mapping", addr(1))
			}
			if full.has("hg") != want {
				t.Fatalf("pages 1 and 2, both handed out: VmFlags %v; advised for huge pages (hg) = %v, want %v", full.flags, full.has("hg"), want)
			}
			if want && (full.start != addr(1) || full.end != addr(3) || full.anonHuge != 2048) {
				t.Fatalf("pages 1 and 2 collapsed: mapping %#x-%#x with %d kB on huge pages; want %#x-%#x, 2048 kB",
					full.start, full.end, full.anonHuge, addr(1), addr(3))
			}
			if half, ok := mappingAt(t, addr(3)); !ok || half.has("hg") {
				t.Fatalf("page 3, whose huge page is half handed out: VmFlags %v, want no huge page advice", half.flags)
			}
			if v, _, ok := get(s, "k0"); !ok || !bytes.Equal(v, bigVal) {
				t.Fatal("k0 lost or changed by the collapse")
			}
		})
	}
}

// A page cache_memlimit gives back to the kernel leaves the huge page
// advice, so that khugepaged cannot fill it in again beside a live
// neighbour, and stays on base pages when it is handed out again.
func TestReleasedPagesLeaveHugePageAdvice(t *testing.T) {
	const page = 1 << 20
	s, _ := newStore(t, func(c *Config) { c.MemoryLimit, c.SlabReassign = 16*page, true })
	for i := 0; i < 40; i++ { // four pages of the 103496-byte class
		set(t, s, fmt.Sprint("k", i), bigVal, 0)
	}
	big := int(classOf(t, s, "k0").ID)
	for i := 0; i < 20; i++ {
		s.Delete([]byte(fmt.Sprint("k", i)))
	}
	for range 2 {
		if r := s.Reassign(big, 0); r != ReassignOK {
			t.Fatalf("Reassign to the pool = %v", r)
		}
		moveAll(t, s)
	}
	if m, ok := mappingAt(t, pageAddr(s, 1)); !ok || m.has("hg") != thpCompiledIn() {
		t.Fatalf("pages 1-4 handed out: VmFlags %v, want huge page advice (THP in the kernel: %v)", m.flags, thpCompiledIn())
	}
	s.SetMemoryLimit(2 * page)
	released := append([]uint32(nil), s.arena.released...)
	if len(released) != 2 {
		t.Fatalf("%d pages released, want 2", len(released))
	}
	advised := func(p uint32) bool {
		m, ok := mappingAt(t, pageAddr(s, p))
		return ok && m.has("hg")
	}
	for _, p := range released {
		if advised(p) {
			t.Fatalf("released page %d is still advised for huge pages", p)
		}
	}
	s.SetMemoryLimit(16 * page)
	set(t, s, "small", []byte("v"), 0)
	reused := released[len(released)-1]
	if advised(reused) {
		t.Fatalf("page %d, handed out again, is advised for huge pages again", reused)
	}
	if v, _, ok := get(s, "small"); !ok || string(v) != "v" {
		t.Fatalf("small = %q, %v on the reused page", v, ok)
	}
}
