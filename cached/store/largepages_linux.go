package store

import "golang.org/x/sys/unix"

// adviseHugePages asks for transparent huge pages on b (-L).
func adviseHugePages(b []byte) error { return unix.Madvise(b, unix.MADV_HUGEPAGE) }
