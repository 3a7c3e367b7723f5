package store

import "syscall"

// mmapAnon reserves n bytes of anonymous memory. MAP_NORESERVE keeps the
// kernel from counting the whole reservation against overcommit: only the
// pages items touch are ever backed.
func mmapAnon(n uint64) ([]byte, error) {
	return syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
}

func munmap(b []byte) error { return syscall.Munmap(b) }
