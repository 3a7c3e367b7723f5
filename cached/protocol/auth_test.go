package protocol

import (
	"errors"
	"testing"
)

func TestParseAuthHeader(t *testing.T) {
	tests := []struct {
		line string
		n    uint32
		err  error
	}{
		{"set x 0 0 12", 12, nil},
		{"set anything 5 7 3 noreply", 3, nil},
		{"set x 0 0 4294967308", 12, nil}, // safe_strtoul keeps the low 32 bits
		{"set x 0 0", 0, ErrUnauthenticated},
		{"get x 0 0 5", 0, ErrUnauthenticated},
		{"set x 0 0 -1", 0, ErrUnauthenticated},
		{"set x 0 0 abc", 0, ErrUnauthenticated},
		{"version", 0, ErrUnauthenticated},
		{"", 0, ErrUnauthenticated},
	}
	for _, tt := range tests {
		var toks Tokens
		n, err := ParseAuthHeader([]byte(tt.line), &toks)
		if n != tt.n || !errors.Is(err, tt.err) {
			t.Errorf("ParseAuthHeader(%q) = %d, %v; want %d, %v", tt.line, n, err, tt.n, tt.err)
		}
	}
}

func TestParseAuthToken(t *testing.T) {
	tests := []struct {
		block, user, pass string
		err               error
	}{
		{"alice secret\r\n", "alice", "secret", nil},
		{"alice  secret extra\r\n", "alice", "secret", nil},
		{"alice secret\n\n", "", "", ErrAuthTermination},
		{"alice\r\n", "", "", ErrAuthTokenFormat},
		{"alice\x00x secret\r\n", "", "", ErrAuthTokenFormat}, // a C string ends at NUL
		{"\r\n", "", "", ErrAuthTokenFormat},
	}
	for _, tt := range tests {
		var toks Tokens
		user, pass, err := ParseAuthToken([]byte(tt.block), &toks)
		if string(user) != tt.user || string(pass) != tt.pass || !errors.Is(err, tt.err) {
			t.Errorf("ParseAuthToken(%q) = %q, %q, %v; want %q, %q, %v", tt.block, user, pass, err, tt.user, tt.pass, tt.err)
		}
	}
}

func TestParsePLAIN(t *testing.T) {
	tests := []struct {
		msg, user, pass string
		ok              bool
	}{
		{"\x00alice\x00secret", "alice", "secret", true},
		{"alice\x00alice\x00secret", "alice", "secret", true},
		{"bob\x00alice\x00secret", "", "", false}, // no proxy authorization
		{"\x00alice\x00", "alice", "", true},
		{"\x00alice\x00secret\x00", "", "", false},
		{"\x00\x00secret", "", "", false},
		{"alicesecret", "", "", false},
		{"\x00alicesecret", "", "", false},
		{"\x00 alice\t\x00secret", "alice", "secret", true}, // Cyrus trims the ids
		{"alice \x00\r\nalice\x00 secret ", "alice", " secret ", true},
		{"\x00 \x00secret", "", "", false},
	}
	for _, tt := range tests {
		user, pass, ok := ParsePLAIN([]byte(tt.msg))
		if string(user) != tt.user || string(pass) != tt.pass || ok != tt.ok {
			t.Errorf("ParsePLAIN(%q) = %q, %q, %v; want %q, %q, %v", tt.msg, user, pass, ok, tt.user, tt.pass, tt.ok)
		}
	}
}

func TestParseCRAMMD5(t *testing.T) {
	for _, tt := range []struct {
		msg, user, digest string
		ok                bool
	}{
		{"alice 0123abcd", "alice", "0123abcd", true},
		{" alice@r1\t 0123", "alice@r1", "0123", true},
		{"alice@r1 x 0123", "alice@r1 x", "0123", true}, // the last space splits
		{"alice ", "alice", "", true},
		{" 0123", "", "", false},
		{"alice0123", "", "", false},
		{"", "", "", false},
	} {
		user, digest, ok := ParseCRAMMD5([]byte(tt.msg))
		if string(user) != tt.user || string(digest) != tt.digest || ok != tt.ok {
			t.Errorf("ParseCRAMMD5(%q) = %q, %q, %v; want %q, %q, %v", tt.msg, user, digest, ok, tt.user, tt.digest, tt.ok)
		}
	}
}

func TestSASLExempt(t *testing.T) {
	for op, want := range map[uint8]bool{OpSASLList: true, OpSASLAuth: true, OpSASLStep: true, OpVersion: true,
		OpGet: false, OpGetQ: false, OpNoop: false, OpQuit: false, OpStat: false, 0x55: false} {
		r := &BinaryRequest{Header: Header{Opcode: op}}
		if got := SASLExempt(r); got != want {
			t.Errorf("SASLExempt(%#x) = %v, want %v", op, got, want)
		}
	}
	// A header that overruns its body is refused as malformed first.
	if !SASLExempt(&BinaryRequest{Header: Header{Opcode: OpGet, KeyLen: 5, BodyLen: 1}}) {
		t.Error("an overrunning header should be left to the framing check")
	}
}
