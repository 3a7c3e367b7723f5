package cached

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cachectl/cachectl/cached/protocol"
)

// Binary SASL (-S) with the PLAIN and CRAM-MD5 mechanisms, answered as
// memcached 1.6.18's proto_bin.c answers with Cyrus SASL behind it:
//   - list mechanisms (0x20), auth (0x21) and step (0x22) each start by
//     forgetting the connection's authentication, as init_sasl_conn does;
//   - PLAIN: auth with an empty message asks for a step (status 0x21,
//     empty body); with a message it checks it at once; a failed step
//     may be tried again;
//   - CRAM-MD5: auth, with no message, answers a challenge (status 0x21);
//     one step answers it with "user hex-digest"; a failed step ends
//     the exchange, as Cyrus disposes of the mechanism's state;
//   - a step needs an auth that succeeded or asked to continue, and none
//     may follow a completed exchange;
//   - success answers "Authenticated", failure "Auth failure." (0x20) and
//     the connection stays open; both are counted in auth_cmds, failures
//     in auth_errors.
//
// Passwords come from the file named by MEMCACHED_SASL_PWDB, re-read at
// every authentication, with the rules of memcached's sasl_pwdb build
// (sasl_defs.c): the first line "user:..." decides; the password must
// match up to a ':', CR, LF or the end of the line. Without that file
// they come from Cyrus SASL's sasldb (sasldb.go).

// saslMaxEntry is sasl_defs.c's MAX_ENTRY_LEN: a user and password longer
// together than this minus 4 are refused without reading the file.
const saslMaxEntry = 256

// binSASLList answers the mechanism list.
func (c *conn) binSASLList(req *protocol.BinaryRequest, extras, key []byte) error {
	if !c.srv.auth.sasl {
		return c.binNoSASL(req, extras, key)
	}
	c.auth.ok = false
	c.binResponse(req, 0, nil, nil, []byte(strings.Join(c.srv.auth.mechs, " ")))
	return nil
}

// binSASLAuth answers auth and step: the mechanism is the key, the
// message the value.
func (c *conn) binSASLAuth(req *protocol.BinaryRequest, extras, key []byte) error {
	if !c.srv.auth.sasl {
		return c.binNoSASL(req, extras, key)
	}
	vlen := req.ValueLen()
	if len(key) > protocol.MaxSASLMechLen {
		c.binError(req, protocol.StatusInvalid, "")
		return c.swallow(vlen)
	}
	// memcached reads the message into an item, so one too large for an
	// unchunked item is refused as out of memory.
	if vlen+int64(len(key))+2+itemHeaderBytes > int64(c.srv.store.Config().ChunkMax) {
		c.binError(req, protocol.StatusNoMemory, "")
		return c.swallow(vlen)
	}
	mech := strings.ToUpper(string(key))
	c.scratch = append(c.scratch[:0], make([]byte, vlen)...)
	if err := c.readFull(c.scratch); err != nil {
		return err
	}
	c.auth.ok = false
	status, out := c.saslExchange(req.Cmd == protocol.OpSASLAuth, mech, c.scratch)
	switch status {
	case protocol.StatusOK:
		c.auth.ok = true
		c.srv.auth.verdict(true)
		c.binResponse(req, 0, nil, nil, []byte(protocol.SASLAuthenticated))
	case protocol.StatusAuthContinue:
		c.binHeaderOut(req, protocol.StatusAuthContinue, 0, 0, uint32(len(out)), 0)
		c.out = append(c.out, out...)
	default:
		c.srv.auth.verdict(false)
		c.binError(req, protocol.StatusAuthError, "")
	}
	return nil
}

// itemHeaderBytes is the item header memcached's size check counts
// besides key and value.
const itemHeaderBytes = 56

// saslExchange is a connection's SASL exchange in progress.
type saslExchange struct {
	mech          string
	started, done bool
	challenge     []byte // CRAM-MD5's, until its step
}

// saslExchange runs one auth or step and returns its status and, for a
// step asked for, what goes to the client.
func (c *conn) saslExchange(start bool, mech string, msg []byte) (uint16, []byte) {
	a := c.auth.sasl
	if a == nil {
		a = &saslExchange{}
		c.auth.sasl = a
	}
	if start {
		*a = saslExchange{}
		if !slices.Contains(c.srv.auth.mechs, mech) {
			return protocol.StatusAuthError, nil
		}
		a.mech, a.started = mech, true
		if mech == protocol.MechCRAMMD5 {
			// A server-first mechanism: the client has nothing to say yet.
			if len(msg) > 0 {
				a.started = false
				return protocol.StatusAuthError, nil
			}
			a.challenge = c.srv.auth.cramChallenge()
			return protocol.StatusAuthContinue, a.challenge
		}
	} else if !a.started || a.done {
		return protocol.StatusAuthError, nil
	}
	if a.mech == protocol.MechCRAMMD5 {
		if !c.srv.auth.checkCRAM(a.challenge, msg) {
			a.started = false
			return protocol.StatusAuthError, nil
		}
		a.done = true
		return protocol.StatusOK, nil
	}
	if len(msg) == 0 {
		return protocol.StatusAuthContinue, nil
	}
	user, pass, ok := protocol.ParsePLAIN(msg)
	if ok {
		ok = c.srv.auth.checkSASL(user, pass)
	}
	if !ok {
		// A failed start leaves nothing to step on; a failed step may be
		// tried again, as Cyrus SASL allows.
		a.started = a.started && !start
		return protocol.StatusAuthError, nil
	}
	a.done = true
	return protocol.StatusOK, nil
}

// cramChallenge is a fresh CRAM-MD5 challenge in Cyrus SASL's form,
// "<random.time@host>".
func (a *authState) cramChallenge() []byte {
	return fmt.Appendf(nil, "<%d.%d@%s>", rand.Uint32(), time.Now().Unix(), a.cyrus.hostname)
}

// checkCRAM checks a CRAM-MD5 response with Cyrus SASL's rules: the
// digest is the challenge's HMAC-MD5 under the user's password in
// lower-case hex, of which anything after the 32 digits is ignored.
func (a *authState) checkCRAM(challenge, msg []byte) bool {
	user, got, ok := protocol.ParseCRAMMD5(msg)
	if !ok {
		return false
	}
	pass, ok := a.cyrus.secret(user)
	if !ok || len(pass) == 0 {
		return false
	}
	mac := hmac.New(md5.New, pass)
	mac.Write(challenge)
	want := hex.AppendEncode(nil, mac.Sum(nil))
	return len(got) >= len(want) && subtle.ConstantTimeCompare(got[:len(want)], want) == 1
}

// checkSASL looks user and pass up in the password file or the sasldb.
func (a *authState) checkSASL(user, pass []byte) bool {
	if a.cyrus != nil {
		return a.cyrus.check(user, pass)
	}
	if len(user)+len(pass) > saslMaxEntry-4 {
		return false
	}
	data, err := readSASLDB(a.pwdb)
	if err != nil {
		return false
	}
	for off := 0; off < len(data); {
		line := authChunk(data, off)
		off += len(line)
		if !bytes.HasPrefix(line, user) || len(line) <= len(user) || line[len(user)] != ':' {
			continue
		}
		// The first line for the user decides: its password must start
		// with pass and stop there.
		stored := line[len(user)+1:]
		if len(stored) < len(pass) {
			return false
		}
		next := byte(0)
		if len(stored) > len(pass) {
			next = stored[len(pass)]
		}
		match := subtle.ConstantTimeCompare(stored[:len(pass)], pass) == 1
		return match && bytes.IndexByte([]byte(":\r\n\x00"), next) >= 0
	}
	return false
}

// readSASLDB reads the SASL password file.
func readSASLDB(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the SASL password file: %w", err)
	}
	return data, nil
}

// authChunk is the line fgets would read at off into a 256-byte buffer:
// up to and including a newline, at most 255 bytes.
func authChunk(data []byte, off int) []byte {
	chunk := data[off:min(len(data), off+authMaxLine)]
	if nl := bytes.IndexByte(chunk, '\n'); nl >= 0 {
		chunk = chunk[:nl+1]
	}
	return chunk
}
