//go:build unix

package store

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the transparent huge page size of x86-64 and of arm64 with
// 4 KiB base pages. The kernel backs only the 2 MiB-aligned stretches of
// an advised mapping with huge pages, so the mappings below are placed on
// that boundary.
const hugePage = 2 << 20

// mmapAnon reserves n bytes of anonymous memory placed so that its byte
// lead starts a huge page: the arena passes its page size, so that its
// first page (never handed out, and so never touched) does not share a
// huge page with the second.
//
// It maps raw, without syscall.Mmap's registry, because it hands back a
// trimmed part of what it mapped; munmap is its counterpart.
func mmapAnon(n, lead uint64) ([]byte, error) {
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(n+hugePage), unix.PROT_READ|unix.PROT_WRITE, anonFlags)
	if err != nil {
		return nil, err
	}
	start := uint64(uintptr(p))
	head := (hugePage - (start+lead)%hugePage) % hugePage
	if head > 0 {
		if err := unix.MunmapPtr(p, uintptr(head)); err != nil {
			unix.MunmapPtr(p, uintptr(n+hugePage))
			return nil, err
		}
	}
	if tail := hugePage - head; tail > 0 {
		if err := unix.MunmapPtr(unsafe.Add(p, head+n), uintptr(tail)); err != nil {
			unix.MunmapPtr(unsafe.Add(p, head), uintptr(n+tail))
			return nil, err
		}
	}
	return unsafe.Slice((*byte)(unsafe.Add(p, head)), n), nil
}

// munmap releases a mapping made by mmapAnon or memFile.mapFile.
func munmap(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}
