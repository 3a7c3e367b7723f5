package protocol

import (
	"net/netip"
	"strconv"
)

// The `watch` command and the log lines it streams, as memcached 1.6.18's
// logger.c writes them.

// LogFlags are the streams a watcher asks for (memcached's LOG_* bits).
type LogFlags uint32

const (
	LogSysEvents   LogFlags = 1 << 1
	LogFetchers    LogFlags = 1 << 2
	LogMutations   LogFlags = 1 << 3
	LogConnEvents  LogFlags = 1 << 5
	LogEvictions   LogFlags = 1 << 6
	LogRawCmds     LogFlags = 1 << 9
	LogProxyReqs   LogFlags = 1 << 10
	LogProxyEvents LogFlags = 1 << 11
	LogProxyUser   LogFlags = 1 << 12
)

var watchNames = map[string]LogFlags{
	"rawcmds": LogRawCmds, "evictions": LogEvictions, "fetchers": LogFetchers,
	"mutations": LogMutations, "sysevents": LogSysEvents, "connevents": LogConnEvents,
	"proxyreqs": LogProxyReqs, "proxyevents": LogProxyEvents, "proxyuser": LogProxyUser,
}

// ParseWatch reads `watch [stream...]`: no stream means fetchers; an
// unknown name is ERROR (1.6.18 has no "deletions" stream).
func ParseWatch(toks [][]byte) (LogFlags, error) {
	if len(toks) < 2 {
		return LogFetchers, nil
	}
	var f LogFlags
	for _, t := range toks[1:] {
		bit, ok := watchNames[string(t)]
		if !ok {
			return 0, ErrUnknownCommand
		}
		f |= bit
	}
	return f, nil
}

// LogEvent is the kind of a log line.
type LogEvent uint8

const (
	EventItemGet LogEvent = iota
	EventItemStore
	EventEviction
	EventConnNew
	EventConnClose
)

// Stream is the watch stream an event belongs to.
func (e LogEvent) Stream() LogFlags {
	return [...]LogFlags{LogFetchers, LogMutations, LogEvictions, LogConnEvents, LogConnEvents}[e]
}

// Item statuses of item_get (memcached's was_found) and item_store lines.
const (
	GetNotFound = iota
	GetFound
	GetFlushed
	GetExpired
)

const (
	StoreNotStored = iota
	StoreStored
	StoreExists
	StoreNotFound
	StoreTooLarge
	StoreNoMemory
)

// Store commands of item_store lines (memcached's NREAD_* numbering).
const (
	CmdNull = iota
	CmdAdd
	CmdSet
	CmdReplace
	CmdAppend
	CmdPrepend
	CmdCAS
)

// Transports and close reasons of connection lines. ReasonDenied is
// cachectl's: a peer the allowlist refused.
const (
	TransportLocal = iota
	TransportTCP
	TransportUDP
)

const (
	ReasonError = iota
	ReasonNormal
	ReasonIdleTimeout
	ReasonShutdown
	ReasonDenied
)

var (
	getStatus   = [...]string{"not_found", "found", "flushed", "expired"}
	storeStatus = [...]string{"not_stored", "stored", "exists", "not_found", "too_large", "no_memory"}
	storeCmd    = [...]string{"null", "add", "set", "replace", "append", "prepend", "cas"}
	transports  = [...]string{"local", "tcp", "udp"}
	reasons     = [...]string{"error", "normal", "idle_timeout", "shutdown", "denied"}
)

// LogEntry is one event, as recorded when it happens.
type LogEntry struct {
	Event   LogEvent
	GID     uint64
	Sec     int64
	Usec    int32
	Key     []byte
	Status  uint8
	Cmd     uint8
	Class   uint8
	FD      int32
	Size    int32  // value bytes
	TTL     int64  // item_store: seconds left (0 = none); eviction: -1 = none
	LastAcc uint32 // eviction: seconds since last access
	Fetched bool
	Peer    netip.AddrPort // invalid for a unix socket
	Trans   uint8
	Reason  uint8
}

// AppendLogLine renders e as memcached's logger thread does, newline
// included. The microseconds are not zero-padded: memcached prints them
// with %d.
func AppendLogLine(dst []byte, e *LogEntry) []byte {
	dst = append(dst, "ts="...)
	dst = strconv.AppendInt(dst, e.Sec, 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(e.Usec), 10)
	dst = append(dst, " gid="...)
	dst = strconv.AppendUint(dst, e.GID, 10)
	switch e.Event {
	case EventItemGet:
		dst = appendKey(append(dst, " type=item_get key="...), e.Key)
		dst = append(append(dst, " status="...), getStatus[e.Status]...)
	case EventItemStore:
		dst = appendKey(append(dst, " type=item_store key="...), e.Key)
		dst = append(append(dst, " status="...), storeStatus[e.Status]...)
		dst = append(append(dst, " cmd="...), storeCmd[e.Cmd]...)
		// %u of a rel_time_t difference: a past expiry wraps.
		dst = strconv.AppendUint(append(dst, " ttl="...), uint64(uint32(e.TTL)), 10)
	case EventEviction:
		dst = appendKey(append(dst, " type=eviction key="...), e.Key)
		dst = append(append(dst, " fetch="...), yesNo(e.Fetched)...)
		dst = strconv.AppendInt(append(dst, " ttl="...), e.TTL, 10)
		dst = strconv.AppendInt(append(dst, " la="...), int64(int32(e.LastAcc)), 10)
		dst = strconv.AppendUint(append(dst, " clsid="...), uint64(e.Class), 10)
		dst = strconv.AppendInt(append(dst, " size="...), int64(e.Size), 10)
		return append(dst, '\n')
	case EventConnNew, EventConnClose:
		return appendConnEvent(dst, e)
	}
	dst = strconv.AppendUint(append(dst, " clsid="...), uint64(e.Class), 10)
	dst = strconv.AppendInt(append(dst, " cfd="...), int64(e.FD), 10)
	dst = strconv.AppendInt(append(dst, " size="...), int64(e.Size), 10)
	return append(dst, '\n')
}

func appendConnEvent(dst []byte, e *LogEntry) []byte {
	if e.Event == EventConnNew {
		dst = append(dst, " type=conn_new rip="...)
	} else {
		dst = append(dst, " type=conn_close rip="...)
	}
	if e.Peer.IsValid() {
		dst = e.Peer.Addr().Unmap().AppendTo(dst)
	} else {
		dst = append(dst, "unix"...)
	}
	dst = strconv.AppendUint(append(dst, " rport="...), uint64(e.Peer.Port()), 10)
	dst = append(append(dst, " transport="...), transports[e.Trans]...)
	if e.Event == EventConnClose {
		dst = append(append(dst, " reason="...), reasons[e.Reason]...)
	}
	dst = strconv.AppendInt(append(dst, " cfd="...), int64(e.FD), 10)
	return append(dst, '\n')
}

// appendKey URI-encodes a key as memcached's uriencode does: everything
// but letters, digits and -._~ becomes %XX.
func appendKey(dst, key []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, b := range key {
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '.', b == '_', b == '~':
			dst = append(dst, b)
		default:
			dst = append(dst, '%', hex[b>>4], hex[b&15])
		}
	}
	return dst
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
