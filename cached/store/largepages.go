package store

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// -L, as memcached 1.6.18 does it on Linux: refuse unless transparent
// huge pages are available, ask for them on the item memory, and give
// every class its first page at start (memcached's slabs_preallocate, so
// that no class answers "out of memory" before it ever had a page).

// checkLargePages is memcached's enable_large_pages for Linux, with its
// messages.
func checkLargePages() error {
	var conf []byte
	var err error
	for _, p := range []string{"/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/redhat_transparent_hugepage/enabled"} {
		if conf, err = os.ReadFile(p); err == nil {
			break
		}
	}
	const refusal = "\nCannot enable large pages on this system\n(There is no support as of this version)"
	switch {
	case err != nil:
		return errors.New("Transparent huge pages support not detected.\nWill use default page size." + refusal)
	case strings.Contains(string(conf), "[never]"):
		return errors.New("Transparent huge pages support disabled.\nWill use default page size." + refusal)
	}
	return nil
}

// useLargePages advises huge pages for the item memory up to the limit
// and preallocates one page per class.
func (s *Store) useLargePages() error {
	a := s.arena
	span := uint64(len(a.mem))
	if a.limit != 0 {
		span = min(span, a.limit+uint64(len(s.classes)+2)*uint64(a.pageSize))
	}
	if err := adviseHugePages(a.mem[:span]); err != nil {
		return fmt.Errorf("asking for huge pages (-L): %w", os.NewSyscallError("madvise", err))
	}
	largest := len(s.classes) - 1
	tooSmall := fmt.Errorf("Error while preallocating slab memory!\nIf using -L or other prealloc options, max memory must be at least %d megabytes.", largest)
	for id := smallestCls; id <= largest; id++ {
		// A class's first page may pass the limit elsewhere; not here,
		// where memcached carves it from one chunk of -m.
		if a.limit != 0 && a.malloced+uint64(a.pageSize) > a.limit {
			return tooSmall
		}
		page, ok := a.newPage(true)
		if !ok {
			return tooSmall
		}
		s.addPage(uint8(id), page)
	}
	return nil
}
