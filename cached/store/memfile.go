package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// memFile is the file that holds item memory with -e (memcached's
// memory_file), usually on tmpfs: mapped shared, its pages outlive the
// process, which is what lets a restart find the items again.
type memFile struct {
	path string
	f    *os.File
	// found is the file's size when it was opened; a warm restart needs
	// exactly the size this configuration maps.
	found int64
	// mapped is the size it is mapped with.
	mapped int64
}

// openMemFile opens (or creates) the memory file and locks it. The lock
// keeps a second daemon from mapping the same items: a cold start clears
// the file, which would wipe a running daemon's memory under it.
func openMemFile(path string) (*memFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening memory file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("memory file %s is in use by another process (another daemon started with the same -e?)", path)
		}
		return nil, fmt.Errorf("locking memory file %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading memory file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("memory file %s is not a regular file", path)
	}
	return &memFile{path: path, f: f, found: fi.Size()}, nil
}

// mapFile sizes the file to n bytes and maps it shared.
func (m *memFile) mapFile(n uint64) ([]byte, error) {
	if err := m.f.Truncate(int64(n)); err != nil {
		return nil, fmt.Errorf("sizing memory file %s to %d MiB: %w", m.path, n>>20, err)
	}
	p, err := unix.MmapPtr(int(m.f.Fd()), 0, nil, uintptr(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping memory file %s (%d MiB): %w", m.path, n>>20, err)
	}
	m.mapped = int64(n)
	return unsafe.Slice((*byte)(p), n), nil
}

// discard drops whatever the file held, keeping its size: a cold start
// must not leave the last run's items around (nor their tmpfs pages
// charged to the host). The mapping stays valid; its pages read as zeros.
func (m *memFile) discard() error {
	if err := m.f.Truncate(0); err != nil {
		return fmt.Errorf("clearing memory file %s: %w", m.path, err)
	}
	if err := m.f.Truncate(m.mapped); err != nil {
		return fmt.Errorf("clearing memory file %s: %w", m.path, err)
	}
	return nil
}

// syncMemory writes the mapped pages back before the metadata says they are
// whole: on tmpfs it costs nothing, on a disk it makes the pair consistent.
func syncMemory(mem []byte) error {
	if err := unix.Msync(mem, unix.MS_SYNC); err != nil {
		return fmt.Errorf("syncing item memory: %w", err)
	}
	return nil
}

func (m *memFile) close() error {
	if m == nil || m.f == nil {
		return nil
	}
	err := m.f.Close() // closing drops the lock
	m.f = nil
	return err
}
