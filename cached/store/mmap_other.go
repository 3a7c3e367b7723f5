//go:build unix && !linux

package store

import "golang.org/x/sys/unix"

// Other Unix kernels (macOS, the BSDs) back anonymous pages lazily without
// MAP_NORESERVE.
const anonFlags = unix.MAP_PRIVATE | unix.MAP_ANON
