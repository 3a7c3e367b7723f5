package cached

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"

	"github.com/cachectl/cachectl/cached/protocol"
)

// Binary SASL (-S) with the PLAIN mechanism, answered as memcached
// 1.6.18's proto_bin.c answers with Cyrus SASL behind it:
//   - list mechanisms (0x20), auth (0x21) and step (0x22) each start by
//     forgetting the connection's authentication, as init_sasl_conn does;
//   - auth with an empty message asks for a step (status 0x21, empty
//     body); with a message it checks it at once;
//   - a step needs an auth that succeeded or asked to continue, and none
//     may follow a completed exchange;
//   - success answers "Authenticated", failure "Auth failure." (0x20) and
//     the connection stays open; both are counted in auth_cmds, failures
//     in auth_errors.
//
// Passwords come from the file named by MEMCACHED_SASL_PWDB, re-read at
// every authentication, with the rules of memcached's sasl_pwdb build
// (sasl_defs.c): the first line "user:..." decides; the password must
// match up to a ':', CR, LF or the end of the line.

// saslMaxEntry is sasl_defs.c's MAX_ENTRY_LEN: a user and password longer
// together than this minus 4 are refused without reading the file.
const saslMaxEntry = 256

// binSASLList answers the mechanism list.
func (c *conn) binSASLList(req *protocol.BinaryRequest, extras, key []byte) error {
	if !c.srv.auth.sasl {
		return c.binNoSASL(req, extras, key)
	}
	c.auth.ok = false
	c.binResponse(req, 0, nil, nil, []byte(protocol.MechPLAIN))
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
	status := c.saslExchange(req.Cmd == protocol.OpSASLAuth, mech, c.scratch)
	switch status {
	case protocol.StatusOK:
		c.auth.ok = true
		c.srv.auth.verdict(true)
		c.binResponse(req, 0, nil, nil, []byte(protocol.SASLAuthenticated))
	case protocol.StatusAuthContinue:
		c.binHeaderOut(req, protocol.StatusAuthContinue, 0, 0, 0, 0)
	default:
		c.srv.auth.verdict(false)
		c.binError(req, protocol.StatusAuthError, "")
	}
	return nil
}

// itemHeaderBytes is the item header memcached's size check counts
// besides key and value.
const itemHeaderBytes = 56

// saslExchange runs one auth or step of PLAIN and returns its status.
func (c *conn) saslExchange(start bool, mech string, msg []byte) uint16 {
	a := &c.auth
	if start {
		a.saslStarted, a.saslDone = false, false
		if mech != protocol.MechPLAIN {
			return protocol.StatusAuthError
		}
		a.saslStarted = true
	} else if !a.saslStarted || a.saslDone {
		return protocol.StatusAuthError
	}
	if len(msg) == 0 {
		return protocol.StatusAuthContinue
	}
	user, pass, ok := protocol.ParsePLAIN(msg)
	if ok {
		ok = c.srv.auth.checkSASL(user, pass)
	}
	if !ok {
		// A failed start leaves nothing to step on; a failed step may be
		// tried again, as Cyrus SASL allows.
		a.saslStarted = a.saslStarted && !start
		return protocol.StatusAuthError
	}
	a.saslDone = true
	return protocol.StatusOK
}

// checkSASL looks user and pass up in the password file.
func (a *authState) checkSASL(user, pass []byte) bool {
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
