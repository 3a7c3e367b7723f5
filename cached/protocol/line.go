package protocol

import "bytes"

// Request lines of the text and meta protocols. Token counts in memcached
// include a terminal token, so "set k 0 0 5" has ntokens = 6; here a
// command's arguments are counted without it.

const (
	MaxTokens    = 24  // memcached's MAX_TOKENS
	KeyMaxLength = 250 // memcached's KEY_MAX_LENGTH
	// LineLimitNoGet is memcached's rule: 2048 bytes without a newline is
	// garbage, and the connection is closed — unless it is a get, whose
	// key list may be long.
	LineLimitNoGet = 2048
	// MaxGetLine bounds a multi-get line so one client cannot make the
	// daemon buffer without limit (memcached grows without bound).
	MaxGetLine = 16 << 20
)

// Tokens is the room a tokenized line lives in. A connection keeps one,
// so tokenizing never allocates.
type Tokens [MaxTokens][]byte

// NextLine finds the first complete line in buf and returns it without
// its newline (and CR), with the bytes it consumed; n is 0 when buf holds
// no complete line yet. ErrClose means buf can no longer become a request.
func NextLine(buf []byte) (line []byte, n int, err error) {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		if len(buf) > LineLimitNoGet && !isGetPrefix(buf) {
			return nil, 0, ErrClose
		}
		if len(buf) >= MaxGetLine {
			return nil, 0, ErrClose
		}
		return nil, 0, nil
	}
	line = buf[:i]
	if len(line) > 1 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	// memcached parses the line as a C string: it ends at a NUL byte.
	if z := bytes.IndexByte(line, 0); z >= 0 {
		line = line[:z]
	}
	return line, i + 1, nil
}

func isGetPrefix(b []byte) bool {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i > 100 {
		return false
	}
	b = b[i:]
	return bytes.HasPrefix(b, []byte("get ")) || bytes.HasPrefix(b, []byte("gets "))
}

// Tokenize splits a line on spaces into at most MaxTokens-1 tokens held in
// t; rest is the unparsed remainder of a longer line (a multi-get goes on
// with it).
func Tokenize(line []byte, t *Tokens) (toks [][]byte, rest []byte) {
	toks = t[:0]
	for len(line) > 0 {
		if line[0] == ' ' {
			line = line[1:]
			continue
		}
		if len(toks) == MaxTokens-1 {
			return toks, line
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		toks = append(toks, line[:end])
		line = line[end:]
	}
	return toks, nil
}

// IsHTTP reports a line that is a stray HTTP request: memcached drops the
// connection without a word for lines it does not route by their first
// letter and that end in an HTTP version.
func IsHTTP(toks [][]byte) bool {
	cmd := toks[0]
	routed := bytes.IndexByte([]byte("gsacidt"), cmd[0]) >= 0 || (cmd[0] == 'm' && len(cmd) == 2)
	return !routed && bytes.HasPrefix(toks[len(toks)-1], []byte("HTTP/"))
}
