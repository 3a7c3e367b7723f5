package protocol

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedLines adds every request line of the transcripts played against
// memcached: the parsers start from real traffic.
func seedLines(f *testing.F) {
	files, _ := filepath.Glob("../testdata/transcripts/*.txt")
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(src), "\n") {
			if rest, ok := strings.CutPrefix(line, "> "); ok {
				f.Add([]byte(rest + "\r\n"))
			}
		}
	}
	f.Add([]byte("get " + strings.Repeat("k", 300) + "\r\n"))
	f.Add([]byte("mg k b v t c f k O123 q\r\n"))
	f.Add([]byte("ms a2V5 5 b T-1 F4294967296 C1 I MA\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
}

// FuzzText parses arbitrary input as request lines, through every text
// and meta parser: no panic, lines bounded, tokens inside the line, and
// only the package's typed errors.
func FuzzText(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var tokens Tokens
		for len(data) > 0 {
			line, n, err := NextLine(data)
			if err != nil {
				if !errors.Is(err, ErrClose) {
					t.Fatalf("NextLine: %v", err)
				}
				return
			}
			if n == 0 {
				if len(data) > LineLimitNoGet && !isGetPrefix(data) {
					t.Fatalf("%d bytes without a newline accepted", len(data))
				}
				return
			}
			data = data[n:]
			toks, rest := Tokenize(line, &tokens)
			checkTokens(t, line, toks, rest)
			parseAll(t, toks)
		}
	})
}

func checkTokens(t *testing.T, line []byte, toks [][]byte, rest []byte) {
	if len(toks) > MaxTokens-1 {
		t.Fatalf("%d tokens", len(toks))
	}
	for _, tok := range toks {
		if len(tok) == 0 || bytes.IndexByte(tok, ' ') >= 0 || !bytes.Contains(line, tok) {
			t.Fatalf("bad token %q of %q", tok, line)
		}
	}
	if rest != nil && len(toks) != MaxTokens-1 {
		t.Fatalf("rest %q with only %d tokens", rest, len(toks))
	}
}

// parseAll runs every parser whose arity the tokens fit, as dispatch would.
func parseAll(t *testing.T, toks [][]byte) {
	n := len(toks)
	var errs []error
	if n == 5 || n == 6 {
		_, err := ParseStorage(toks, false)
		errs = append(errs, err)
	}
	if n == 6 || n == 7 {
		_, err := ParseStorage(toks, true)
		errs = append(errs, err)
	}
	if n >= 2 && n <= 4 {
		_, err := ParseDelete(toks)
		errs = append(errs, err)
	}
	if n == 3 || n == 4 {
		_, err := ParseArith(toks)
		errs = append(errs, err)
		_, err = ParseTouch(toks)
		errs = append(errs, err)
	}
	if n >= 2 {
		var f MetaFlags
		if CheckMeta(toks, ErrMetaFlagsLong) == nil {
			_, err := ParseMetaFlags(toks, 2, &f)
			errs = append(errs, err)
		}
		_, err := CheckMetaSet(toks)
		errs = append(errs, err)
		_, err = ParseFlushAll(toks)
		errs = append(errs, err)
		_, err = ParseMemlimit(toks)
		errs = append(errs, err)
		_, _, err = ParseCachedump(toks)
		errs = append(errs, err)
	}
	for _, err := range errs {
		var pe *Error
		if err != nil && (!errors.As(err, &pe) || !strings.Contains(pe.Reply, "ERROR") && !strings.HasPrefix(pe.Reply, "MEMLIMIT_")) {
			t.Fatalf("%q: untyped or unknown error %v", toks, err)
		}
	}
}

// FuzzBinary parses arbitrary input as binary requests: no panic, the
// consumed length is the header's, and every refusal is typed.
func FuzzBinary(f *testing.F) {
	f.Add([]byte("\x80\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00k"))
	f.Add([]byte("\x80\x01\x00\x01\x08\x00\x00\x00\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00kv"))
	f.Add([]byte("\x81garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for len(data) > 0 {
			req, extras, key, n, err := ParseBinary(data)
			if err != nil {
				if !errors.Is(err, ErrClose) {
					t.Fatalf("ParseBinary: %v", err)
				}
				return
			}
			if n == 0 {
				return
			}
			if n != HeaderLen+len(extras)+len(key) || len(key) != int(req.KeyLen) || len(extras) != int(req.ExtLen) {
				t.Fatalf("consumed %d for %+v", n, req.Header)
			}
			var be *BinaryError
			if err := CheckBinary(&req); err != nil && !errors.As(err, &be) {
				t.Fatalf("untyped error %v", err)
			}
			data = data[n:]
		}
	})
}
