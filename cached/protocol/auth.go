package protocol

import "bytes"

// Authentication on the wire: memcached 1.6.18's ASCII auth (-Y), read as
// proto_text.c's try_read_command_asciiauth reads it, and the SASL PLAIN
// message of the binary protocol (-S).

// ASCII auth replies. Until a connection authenticates, every line that is
// not an auth "set" is answered with ReplyUnauthenticated and the
// connection reads on.
const (
	ReplyUnauthenticated = "CLIENT_ERROR unauthenticated"
	ReplyAuthFailure     = "CLIENT_ERROR authentication failure"
	ReplyAuthTokenFormat = "CLIENT_ERROR bad authentication token format"
	ReplyAuthTermination = "CLIENT_ERROR bad command line termination"
)

// The ASCII auth refusals, as values.
var (
	ErrUnauthenticated = &Error{ReplyUnauthenticated}
	ErrAuthTokenFormat = &Error{ReplyAuthTokenFormat}
	ErrAuthTermination = &Error{ReplyAuthTermination}
)

// ParseAuthHeader reads the line that opens an ASCII authentication:
// "set <any key> <any flags> <any exptime> <n>". The key, flags and
// exptime are ignored, as memcached ignores them; n is the length of the
// "user password" token that follows. Any other line is ErrUnauthenticated.
func ParseAuthHeader(line []byte, t *Tokens) (n uint32, err error) {
	toks, _ := Tokenize(line, t)
	if len(toks) < 5 || string(toks[0]) != "set" {
		return 0, ErrUnauthenticated
	}
	n, ok := ParseUint32(toks[4])
	if !ok {
		return 0, ErrUnauthenticated
	}
	return n, nil
}

// ParseAuthToken reads the data block of an ASCII authentication: "user
// password" and its CRLF. Tokens after the second are ignored. memcached
// tokenizes the block as a C string, so it ends at a NUL byte.
func ParseAuthToken(block []byte, t *Tokens) (user, pass []byte, err error) {
	if !bytes.HasSuffix(block, []byte("\r\n")) {
		return nil, nil, ErrAuthTermination
	}
	block = block[:len(block)-2]
	if i := bytes.IndexByte(block, 0); i >= 0 {
		block = block[:i]
	}
	toks, _ := Tokenize(block, t)
	if len(toks) < 2 {
		return nil, nil, ErrAuthTokenFormat
	}
	return toks[0], toks[1], nil
}

// SASL over the binary protocol (-S): the opcodes' replies and limits.
const (
	// StatusAuthContinue asks the client for the next SASL step.
	StatusAuthContinue = 0x21
	// SASLAuthenticated is the body of a successful auth or step.
	SASLAuthenticated = "Authenticated"
	// MaxSASLMechLen is memcached's MAX_SASL_MECH_LEN: a longer mechanism
	// name is invalid arguments.
	MaxSASLMechLen = 32
	// MechPLAIN (RFC 4616) and MechCRAMMD5 (RFC 2195) are the mechanisms
	// served.
	MechPLAIN   = "PLAIN"
	MechCRAMMD5 = "CRAM-MD5"
)

// ParsePLAIN splits a SASL PLAIN message, "authzid NUL authcid NUL
// password", with the Cyrus plugin's rules: both separators present, no
// NUL in the password, ids stripped of surrounding whitespace as Cyrus
// canonicalizes them, an empty authzid meaning the authcid. ok is false
// for a malformed message, an empty authcid, or an authzid naming
// someone else, which memcached's Cyrus setup refuses (no proxy
// authorization).
func ParsePLAIN(msg []byte) (user, pass []byte, ok bool) {
	authz, rest, found := bytes.Cut(msg, []byte{0})
	if !found {
		return nil, nil, false
	}
	user, pass, found = bytes.Cut(rest, []byte{0})
	if !found || bytes.IndexByte(pass, 0) >= 0 {
		return nil, nil, false
	}
	user, authz = bytes.Trim(user, cSpace), bytes.Trim(authz, cSpace)
	if len(user) == 0 || len(authz) > 0 && !bytes.Equal(authz, user) {
		return nil, nil, false
	}
	return user, pass, true
}

// ParseCRAMMD5 splits a CRAM-MD5 response, "user digest", with the Cyrus
// plugin's rules: the user is everything before the last space, stripped
// of surrounding whitespace as Cyrus canonicalizes it; the digest is the
// rest. ok is false without a space after a non-empty start.
func ParseCRAMMD5(msg []byte) (user, digest []byte, ok bool) {
	sp := bytes.LastIndexByte(msg, ' ')
	if sp <= 0 {
		return nil, nil, false
	}
	return bytes.Trim(msg[:sp], cSpace), msg[sp+1:], true
}

// cSpace is what C's isspace accepts.
const cSpace = " \t\n\v\f\r"

// SASLExempt reports the binary commands memcached serves before a
// connection authenticates: the SASL ones and version. Quiet forms are
// not folded first, as memcached checks the opcode as sent.
func SASLExempt(r *BinaryRequest) bool {
	switch r.Opcode {
	case OpSASLList, OpSASLAuth, OpSASLStep, OpVersion:
		return true
	}
	// A header whose key and extras overrun its body is refused as
	// malformed before authentication is looked at.
	return int64(r.KeyLen)+int64(r.ExtLen) > int64(r.BodyLen)
}
