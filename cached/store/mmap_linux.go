package store

import "golang.org/x/sys/unix"

// MAP_NORESERVE keeps the kernel from counting a whole reservation against
// overcommit: only the pages items touch are ever backed.
const anonFlags = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_NORESERVE
