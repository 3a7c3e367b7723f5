//go:build unix && !linux

package store

import "syscall"

// mmapAnon reserves n bytes of anonymous memory. Other Unix kernels
// (macOS, the BSDs) back anonymous pages lazily without MAP_NORESERVE.
func mmapAnon(n uint64) ([]byte, error) {
	return syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON)
}

func munmap(b []byte) error { return syscall.Munmap(b) }
