// Package cached is cachectl's memcached-compatible cache daemon. It
// speaks memcached 1.6.18's three protocols reply for reply — the classic
// text commands, the meta commands and the binary protocol, chosen per
// connection (per datagram over UDP) by its first byte under -B auto —
// over TCP, UDP (answered only for admitted peers), a unix socket and TLS.
// It streams memcached's watch logs (logger.go, watch*.go) and keeps its
// per-prefix stats (stats_detail.go).
//
// The package is laid out by role:
//   - protocol/ reads requests into values and holds every reply text;
//     it never touches a socket, a Server or an item.
//   - dispatch.go, text.go, admin.go, memory_cmds.go, meta*.go and
//     binary*.go run parsed requests against the store: one table entry
//     and one handler each. memory_cmds.go is memcached's lru_crawler,
//     slabs and lru; buffer_limit.go its read_buf_mem_limit.
//   - stats*.go build the stats groups, shared by both protocols.
//   - conn.go and buffers.go hold a connection's buffers; loop*.go serve
//     plain sockets from -t epoll worker loops, serve.go accepts and shuts
//     down, udp.go, tls.go, unix.go and listen.go are the transports.
//   - store/ is the slab allocator, the segmented per-class LRU with its
//     maintainer, the LRU crawler, the slab page mover and the hash index.
//
// auth.go, authfile.go and sasl.go are ASCII auth (-Y) and binary SASL
// PLAIN (-S); tls*.go the TLS options and refresh_certs.
//
// It refuses what memcached would refuse and a little more: it does not
// carry a request across UDP datagrams. The LRU crawler, slab page
// mover and segmented LRU live in store/. Running in the background (-d) is
// cached/daemon's, by re-executing the program.
package cached
