package store

import "bytes"

// Numbers are parsed as memcached's safe_strto* helpers parse them, quirks
// included, because clients and tests rely on the exact replies. The text
// protocol parses its tokens with these too, and Delta parses stored values.

// scanDecimal reads what strtoull/strtol accept: leading whitespace, an
// optional sign, digits, then whitespace or the end. ok is false when there
// are no digits, junk follows them, or the digits overflow 64 bits (ERANGE).
// memcached hands them C strings, so a NUL byte is the end too. Request
// lines are already cut there (protocol.NextLine); a stored value is not,
// and "1\x00x" increments to 2.
func scanDecimal(b []byte) (neg bool, v uint64, ok bool) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	start := i
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if v > (1<<64-1-d)/10 {
			return false, 0, false
		}
		v = v*10 + d
	}
	if i == start || (i < len(b) && !isSpace(b[i])) {
		return false, 0, false
	}
	return neg, v, true
}

// ParseUint64 is safe_strtoull: a negative number is refused, except that
// strtoull's negation of it may come out positive ("-0", or a magnitude
// above 2^63), which memcached then accepts.
func ParseUint64(b []byte) (uint64, bool) {
	neg, v, ok := scanDecimal(b)
	if !ok {
		return 0, false
	}
	if neg {
		v = -v
		if int64(v) < 0 {
			return 0, false
		}
	}
	return v, true
}

// ParseInt64 is strtol with ERANGE checking, as safe_strtol uses it.
func ParseInt64(b []byte) (int64, bool) {
	neg, v, ok := scanDecimal(b)
	switch {
	case !ok, v > 1<<63, !neg && v == 1<<63:
		return 0, false
	case neg:
		return -int64(v), true
	}
	return int64(v), true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
