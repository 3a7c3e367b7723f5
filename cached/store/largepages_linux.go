package store

import "golang.org/x/sys/unix"

// adviseHugePages asks for transparent huge pages on b (hugepages.go, -L).
func adviseHugePages(b []byte) error { return unix.Madvise(b, unix.MADV_HUGEPAGE) }

// adviseBasePages takes b out of the huge page advice.
func adviseBasePages(b []byte) error { return unix.Madvise(b, unix.MADV_NOHUGEPAGE) }

// collapseHugePage makes b, one advised huge page, a huge page now.
func collapseHugePage(b []byte) error { return unix.Madvise(b, unix.MADV_COLLAPSE) }

// errCollapseBusy is collapseHugePage's "try again later".
var errCollapseBusy = unix.EAGAIN
