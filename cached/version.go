// Package cached is cachectl's memcached-compatible cache daemon: a slab
// allocator with per-class LRU eviction, the memcached text protocol, and the
// server loop that ties them to sockets.
package cached

// ProtocolVersion is the memcached release whose behaviour the daemon
// matches reply for reply; `version` answers with it because clients parse it.
const ProtocolVersion = "1.6.18"

// Version is cachectl's own release.
const Version = "0.1.0"
