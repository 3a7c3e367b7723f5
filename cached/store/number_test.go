package store

import "testing"

// The replies these decide were checked against memcached 1.6.18 (the
// transcripts hold the wire-level cases).
func TestParseUint64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false}, // ERANGE
		{" 5", 5, true},                    // strtoull skips leading space
		{"5 ", 5, true},                    // and stops at trailing space
		{"+5", 5, true},
		{"-1", 0, false},
		{"-0", 0, true},
		{"-9223372036854775809", 1<<63 - 1, true}, // strtoull negates; memcached sees a positive result
		{"12abc", 0, false},
		{"", 0, false},
		{"1\x00x", 1, true}, // a C string ends at the NUL
		{"\x001", 0, false},
		{"-1\x002", 0, false},
	} {
		got, ok := ParseUint64([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseUint64(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseInt64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"-1", -1, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775808", -1 << 63, true},
		{"-9223372036854775809", 0, false},
		{"7\x00junk", 7, true},
		{"abc", 0, false},
	} {
		got, ok := ParseInt64([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseInt64(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
