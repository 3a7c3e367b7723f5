// Package settings holds memcached 1.6.18's defaults and limits, and the
// size syntax its flags take, defined once for the daemon, its storage, its
// flags and the policy file.
//
// It imports nothing of cachectl's, so the lowest layers (the store, the
// pure policy package) can use it without an import cycle. It does not
// validate combinations of settings: the store and the daemon's flag parser
// do that, with memcached's messages.
package settings

import "io/fs"

// memcached 1.6.18's defaults (settings_init in memcached.c).
const (
	Port          = 11211            // -p
	MemoryLimit   = Size(64 << 20)   // -m, in bytes
	MaxConns      = 1024             // -c
	Threads       = 4                // -t
	MaxItemSize   = Size(1 << 20)    // -I
	GrowthFactor  = 1.25             // -f
	MinChunk      = 48               // -n
	Backlog       = 1024             // -b
	ReqsPerEvent  = 20               // -R
	SlabPageSize  = Size(1 << 20)    // a slab page; not a flag
	SlabChunkMax  = SlabPageSize / 2 // -o slab_chunk_max, in bytes
	UnixMask      = fs.FileMode(0o700)
	WatcherLogBuf = Size(256 << 10) // -o watcher_logbuf_size, given in kilobytes
	WorkerLogBuf  = Size(64 << 10)  // -o worker_logbuf_size, given in kilobytes
	MemoryLimitMB = int(MemoryLimit >> 20)
)

// memcached 1.6.18's limits on -I.
const (
	MinItemSize      = Size(1 << 10)
	MaxItemSizeLimit = Size(1 << 30)
)
