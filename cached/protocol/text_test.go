package protocol

import "testing"

// The text parsers' refusals, each the reply memcached 1.6.18 sends.
func TestParseRefusals(t *testing.T) {
	long := string(make([]byte, 251))
	for _, tc := range []struct {
		line    string
		parse   func([][]byte) (Request, error)
		want    error
		noreply bool
	}{
		{"set k 0 0 5", func(t [][]byte) (Request, error) { return ParseStorage(t, false) }, nil, false},
		{"set k 0 0 -1 noreply", func(t [][]byte) (Request, error) { return ParseStorage(t, false) }, ErrBadFormat, true},
		{"set k x 0 1", func(t [][]byte) (Request, error) { return ParseStorage(t, false) }, ErrBadFormat, false},
		{"cas k 0 0 1 x", func(t [][]byte) (Request, error) { return ParseStorage(t, true) }, ErrBadFormat, false},
		{"delete k 1", ParseDelete, ErrDeleteUsage, false},
		{"delete k 0 noreply", ParseDelete, nil, true},
		{"delete noreply", ParseDelete, nil, false},
		{"delete " + long, ParseDelete, ErrBadFormat, false},
		{"incr k x", ParseArith, ErrBadDelta, false},
		{"touch k x noreply", ParseTouch, ErrBadExptime, true},
		{"flush_all x", ParseFlushAll, ErrBadExptime, false},
		{"flush_all noreply", ParseFlushAll, nil, true},
		{"verbosity x", ParseVerbosity, ErrBadFormat, false},
		{"cache_memlimit 7", ParseMemlimit, ErrMemlimitSmall, false},
		{"cache_memlimit 1000000001", ParseMemlimit, ErrMemlimitBytes, false},
		{"cache_memlimit x noreply", ParseMemlimit, ErrUnknownCommand, true},
	} {
		var tokens Tokens
		toks, _ := Tokenize([]byte(tc.line), &tokens)
		r, err := tc.parse(toks)
		if err != tc.want || r.Noreply != tc.noreply {
			t.Errorf("%.40q: err %v noreply %v, want %v %v", tc.line, err, r.Noreply, tc.want, tc.noreply)
		}
	}
}

func TestParseMetaFlags(t *testing.T) {
	for _, tc := range []struct {
		line string
		want error
	}{
		{"mg k v t c", nil},
		{"mg k v v", ErrMetaDuplicateFlag},
		{"mg k E1", ErrMetaUnknownFlag},
		{"mg k Tx", ErrMetaBadToken},
		{"mg k Fx", ErrBadFormat},         // F keeps the last message
		{"mg k Tx Fx", ErrMetaBadToken},   // which T chose
		{"mg k MSS", ErrMetaModeLength},   // M takes one letter
		{"mg !!!! b", ErrMetaBadKey},      // not base64
		{"ma k Dx Jy", ErrMetaBadInitial}, // the last error wins
	} {
		var tokens Tokens
		var f MetaFlags
		toks, _ := Tokenize([]byte(tc.line), &tokens)
		if _, err := ParseMetaFlags(toks, 2, &f); err != tc.want {
			t.Errorf("%q: %v, want %v", tc.line, err, tc.want)
		}
	}
}

func TestCheckBinary(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    Header
		want error
	}{
		{"get", Header{Opcode: OpGet, KeyLen: 1, BodyLen: 1}, nil},
		{"get with extras", Header{Opcode: OpGetQ, KeyLen: 1, ExtLen: 4, BodyLen: 5}, ErrBinaryInvalid},
		{"key past body", Header{Opcode: OpGet, KeyLen: 2, BodyLen: 1}, ErrBinaryBody},
		{"key too long", Header{Opcode: 0x7f, KeyLen: 251, BodyLen: 251}, ErrBinaryInvalid},
		{"unknown opcode", Header{Opcode: 0x7f, BodyLen: 9}, nil},
		{"set", Header{Opcode: OpSetQ, KeyLen: 1, ExtLen: 8, BodyLen: 12}, nil},
		{"noop with body", Header{Opcode: OpNoop, BodyLen: 1}, ErrBinaryInvalid},
	} {
		b := make([]byte, HeaderLen+int(tc.h.ExtLen)+int(tc.h.KeyLen))
		b[0], b[1], b[3], b[4], b[11] = MagicRequest, tc.h.Opcode, byte(tc.h.KeyLen), tc.h.ExtLen, byte(tc.h.BodyLen)
		b[2] = byte(tc.h.KeyLen >> 8)
		req, _, _, n, err := ParseBinary(b)
		if err != nil || n != len(b) {
			t.Fatalf("%s: ParseBinary: n=%d err=%v", tc.name, n, err)
		}
		if got := CheckBinary(&req); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
