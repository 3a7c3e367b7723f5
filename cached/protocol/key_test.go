package protocol

import "testing"

func TestDecodeKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Zm9v", "foo"},
		{"Zg==", "f"},
		{"Zh==", "f"},     // stray low bits are dropped, not refused
		{"YQ==YQ==", "a"}, // decoding stops after the first padded quad
		{"Z-g-=-=", "f"},  // bytes outside the alphabet are skipped
		{"Zm9v\r", "foo"}, // even control bytes
		{"Z=g=", "d"},     // padding counts as zero bits
		{"AA==", "\x00"},  // a NUL byte is a key byte like any other
		{"Zm9", ""},       // not a multiple of four
		{"====", ""},      // three pads or more in a quad
		{"=A==", ""},
		{"", ""},
	} {
		if got := string(DecodeKey([]byte(tc.in))); got != tc.want {
			t.Errorf("DecodeKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
