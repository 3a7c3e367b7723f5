package protocol

import "github.com/cachectl/cachectl/cached/store"

// Numbers are parsed as memcached's safe_strto* helpers do, quirks
// included, because clients and tests rely on the exact replies. The
// digits themselves are read by the store's parser, which also reads
// the counters incr and decr work on, so both agree.

// ParseInt32 is safe_strtol: a 64-bit strtol truncated to 32 bits.
func ParseInt32(b []byte) (int32, bool) {
	v, ok := store.ParseInt64(b)
	return int32(v), ok
}

// ParseUint32 is safe_strtoul: a 64-bit strtoul truncated to 32 bits, so
// 4294967296 is accepted as 0, as in memcached 1.6.18.
func ParseUint32(b []byte) (uint32, bool) {
	v, ok := store.ParseUint64(b)
	return uint32(v), ok
}

// ParseUint64 is safe_strtoull.
func ParseUint64(b []byte) (uint64, bool) { return store.ParseUint64(b) }

// PositiveExp is memcached's EXPTIME_TO_POSITIVE_TIME: a negative expiry
// becomes an absolute time long past, so the item is expired at once.
func PositiveExp(exp int32) int64 {
	if exp < 0 {
		return 60*60*24*30 + 1
	}
	return int64(exp)
}
