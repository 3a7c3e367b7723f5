package cached

import (
	"encoding/base64"
	"strconv"

	"github.com/cachectl/cachectl/cached/store"
)

// The meta commands (mg, ms, md, ma, mn, me) as memcached 1.6.18's
// proto_text.c answers them, quirks included: flags a later release added
// (E everywhere, x on md) are rejected, while every command accepts, and
// ignores, the flags only another one uses; replies carry the returned
// flags in the order the client sent them; q hides only the nominal reply
// (EN for mg, HD for ms and md, the success of ma); errors always show.

const (
	metaMaxTokens = 20 // MFLAG_MAX_OPT_LENGTH, counted like ntokens
	metaMaxOpaque = 32 // MFLAG_MAX_OPAQUE_LENGTH, the O included
)

const (
	errBadFormat   = "CLIENT_ERROR bad command line format"
	errBadToken    = "CLIENT_ERROR bad token in command line format"
	errFlagsLong   = "CLIENT_ERROR options flags too long"
	errOpaqueLong  = "CLIENT_ERROR opaque token too long"
	errInvalidFlag = "CLIENT_ERROR invalid or duplicate flag"
)

// metaFlags is what _meta_flag_preparse learns from a command's flags.
type metaFlags struct {
	noUpdate, locked, vivify, value, setStale bool
	noReply, hasCAS, newTTL, keyBinary        bool
	mode                                      byte
	exptime, autovivExp, recacheExp           uint32
	clientFlags                               uint32
	reqCAS, delta, initial                    uint64
}

// metaPreparse validates the flags from toks[start:] and decodes a base64
// key. On failure it returns the message memcached would choose: the last
// error seen, or the first unknown or repeated flag.
func (c *conn) metaPreparse(toks [][]byte, start int, of *metaFlags) (key []byte, errstr string, ok bool) {
	var seen [127]bool
	key = toks[1]
	errstr = errBadFormat
	failed := false
	rel := func(tok []byte) (uint32, bool) {
		v, ok := parseInt32(tok[1:])
		if !ok {
			errstr, failed = errBadToken, true
			return 0, false
		}
		return c.srv.store.RelTime(positiveExp(v)), true
	}
	for _, tok := range toks[start:] {
		o := tok[0]
		if o >= 127 || seen[o] {
			return nil, "CLIENT_ERROR duplicate flag", false
		}
		seen[o] = true
		switch o {
		case 'b':
			key = decodeKey(toks[1])
			if key == nil {
				errstr, failed = "CLIENT_ERROR error decoding key", true
			}
			of.keyBinary = true
		case 'N':
			of.locked, of.vivify = true, true
			of.autovivExp, _ = rel(tok)
		case 'T':
			of.locked = true
			if exp, ok := rel(tok); ok {
				of.exptime, of.newTTL = exp, true
			}
		case 'R':
			of.locked = true
			of.recacheExp, _ = rel(tok)
		case 'l', 'h':
			of.locked = true // the bump waits until last access is reported
		case 'O', 'P', 'L', 'k', 's', 't', 'c', 'f':
		case 'v':
			of.value = true
		case 'u':
			of.noUpdate = true
		case 'q':
			of.noReply = true
		case 'F':
			v, ok := parseUint32(tok[1:])
			if !ok {
				failed = true
			}
			of.clientFlags = v
		case 'C':
			v, ok := store.ParseUint64(tok[1:])
			if !ok {
				errstr, failed = errBadToken, true
			} else {
				of.reqCAS, of.hasCAS = v, true
			}
		case 'M':
			if len(tok) != 2 {
				errstr, failed = "CLIENT_ERROR incorrect length for M token", true
			} else {
				of.mode = tok[1]
			}
		case 'J':
			if v, ok := store.ParseUint64(tok[1:]); ok {
				of.initial = v
			} else {
				errstr, failed = "CLIENT_ERROR invalid numeric initial value", true
			}
		case 'D':
			if v, ok := store.ParseUint64(tok[1:]); ok {
				of.delta = v
			} else {
				errstr, failed = "CLIENT_ERROR invalid numeric delta value", true
			}
		case 'I':
			of.setStale = true
		default:
			return nil, "CLIENT_ERROR invalid flag", false
		}
	}
	return key, errstr, !failed
}

// metaError answers with an error even under q (out_errstring).
func (c *conn) metaError(s string) {
	c.noreply = false
	c.reply(s)
}

// appendTTL writes the seconds left, -1 for never, with memcached's
// unsigned arithmetic.
func appendTTL(out []byte, exp, now uint32) []byte {
	if exp == 0 {
		return append(out, "-1"...)
	}
	return strconv.AppendUint(out, uint64(exp-now), 10)
}

// metaCommand routes the two-letter meta commands.
func (c *conn) metaCommand(cmd byte, toks [][]byte) error {
	switch cmd {
	case 'g':
		c.metaGet(toks)
	case 's':
		return c.metaSet(toks)
	case 'd':
		c.metaDelete(toks)
	case 'a':
		c.metaArithmetic(toks)
	case 'e':
		c.metaDebug(toks)
	case 'n':
		// mn asks for everything so far to be sent now.
		c.out = append(c.out, "MN\r\n"...)
		return c.flush()
	default:
		c.reply("ERROR")
	}
	return nil
}

// metaCheck applies the checks common to mg, md and ma before the flags.
func (c *conn) metaCheck(toks [][]byte, tooLong string) bool {
	ntokens := len(toks) + 1
	switch {
	case ntokens < 3:
		c.reply("ERROR")
	case len(toks[1]) > keyMaxLength:
		c.metaError(errBadFormat)
	case ntokens > metaMaxTokens:
		c.metaError(tooLong)
	default:
		return true
	}
	return false
}

func (c *conn) metaGet(toks [][]byte) {
	if !c.metaCheck(toks, "CLIENT_ERROR options flags are too long") {
		return
	}
	var of metaFlags
	key, errstr, ok := c.metaPreparse(toks, 2, &of)
	if !ok {
		c.metaError(errstr)
		return
	}
	c.noreply = of.noReply
	start := len(c.out)
	v := c.srv.store.OpenView(key)
	defer v.Close()
	if !v.Found() && of.vivify && v.Create(nil, 0) {
		c.metaGetHit(&v, toks, &of, true, start)
		return
	}
	if !v.Found() {
		v.CountGet(false)
		c.metaGetMiss(toks, key, &of, start)
		return
	}
	if !of.locked && !of.noUpdate {
		v.Bump()
	}
	c.metaGetHit(&v, toks, &of, false, start)
}

// metaGetHit writes an mg hit. An opaque that is too long replaces the
// reply with an error; changes already made stay, as in memcached.
func (c *conn) metaGetHit(v *store.View, toks [][]byte, of *metaFlags, created bool, start int) {
	if of.value {
		c.out = append(c.out, "VA "...)
		c.out = strconv.AppendUint(c.out, uint64(v.Len()), 10)
	} else {
		c.out = append(c.out, "HD"...)
	}
	won, ttlSet := false, false
	for _, tok := range toks[2:] {
		switch tok[0] {
		case 'T':
			ttlSet = true
			v.SetExp(of.exptime)
		case 'N':
			if created {
				v.SetExp(of.autovivExp)
				won = true
			}
		case 'R':
			if !v.TokenSent() && !created && v.Exp() != 0 && v.Exp() < of.recacheExp {
				won = true
			}
		case 's':
			c.out = append(c.out, " s"...)
			c.out = strconv.AppendUint(c.out, uint64(v.Len()), 10)
		case 't':
			c.out = append(c.out, " t"...)
			c.out = appendTTL(c.out, v.Exp(), v.Now())
		case 'c':
			c.out = append(c.out, " c"...)
			c.out = strconv.AppendUint(c.out, v.CAS(), 10)
		case 'f':
			c.out = append(c.out, " f"...)
			c.out = strconv.AppendUint(c.out, uint64(v.Flags()), 10)
		case 'l':
			c.out = append(c.out, " l"...)
			c.out = strconv.AppendUint(c.out, uint64(v.Idle()), 10)
		case 'h':
			if v.Fetched() {
				c.out = append(c.out, " h1"...)
			} else {
				c.out = append(c.out, " h0"...)
			}
		case 'O', 'k':
			if !c.echoOpaqueOrKey(tok, v.Key(), v.KeyBinary(), start) {
				return
			}
		}
	}
	// A client told Z (someone else is recaching) is never also told W.
	if v.TokenSent() {
		c.out = append(c.out, " Z"...)
	}
	if v.Stale() {
		c.out = append(c.out, " X"...)
		if !v.TokenSent() {
			won = true
		}
	}
	if won {
		c.out = append(c.out, " W"...)
		v.SetTokenSent()
	}
	c.out = append(c.out, '\r', '\n')
	if of.value {
		c.out = v.Value(c.out)
		c.out = append(c.out, '\r', '\n')
	}
	if of.locked && !of.noUpdate {
		v.Bump()
	}
	if ttlSet {
		v.CountTouch(true)
	} else {
		v.CountGet(true)
	}
}

func (c *conn) metaGetMiss(toks [][]byte, key []byte, of *metaFlags, start int) {
	c.out = append(c.out, "EN"...)
	if !c.metaEcho(toks, key, of.keyBinary, start) {
		return
	}
	c.out = append(c.out, '\r', '\n')
	if of.noReply {
		c.out = c.out[:start]
	}
}

// metaEcho appends the O and k flags in request order; false (with the
// reply replaced by the error) when an opaque is too long.
func (c *conn) metaEcho(toks [][]byte, key []byte, binary bool, start int) bool {
	for _, tok := range toks[2:] {
		if (tok[0] == 'O' || tok[0] == 'k') && !c.echoOpaqueOrKey(tok, key, binary, start) {
			return false
		}
	}
	return true
}

// echoOpaqueOrKey appends one O or k flag as memcached echoes it; false when
// an opaque is too long, in which case the reply begun at start is replaced
// by the error.
func (c *conn) echoOpaqueOrKey(tok, key []byte, binary bool, start int) bool {
	if tok[0] == 'k' {
		c.out = appendKey(c.out, key, binary)
		return true
	}
	if len(tok) > metaMaxOpaque {
		c.out = c.out[:start]
		c.metaError(errOpaqueLong)
		return false
	}
	c.out = append(c.out, ' ')
	c.out = append(c.out, tok...)
	return true
}

func (c *conn) metaDelete(toks [][]byte) {
	if !c.metaCheck(toks, errFlagsLong) {
		return
	}
	var of metaFlags
	key, _, ok := c.metaPreparse(toks, 2, &of)
	if !ok {
		c.metaError(errInvalidFlag)
		return
	}
	c.noreply = of.noReply
	start := len(c.out)
	c.out = append(c.out, "XX"...)
	if !c.metaEcho(toks, key, of.keyBinary, start) {
		return
	}
	c.out = append(c.out, '\r', '\n')
	code := "NF"
	v := c.srv.store.OpenView(key)
	defer v.Close()
	switch {
	case !v.Found():
		v.CountDeleteMiss()
	case of.hasCAS && v.CAS() != of.reqCAS:
		v.CountDeleteMiss()
		code = "EX"
	case of.setStale:
		if of.newTTL {
			v.SetExp(of.exptime)
		}
		v.Invalidate()
		code = "HD"
	default:
		v.Delete()
		code = "HD"
	}
	copy(c.out[start:], code)
	if code == "HD" && of.noReply {
		c.out = c.out[:start]
	}
	c.noreply = false
}

func (c *conn) metaDebug(toks [][]byte) {
	if len(toks) < 2 || len(toks[1]) > keyMaxLength {
		c.metaError(errBadFormat)
		return
	}
	key := toks[1]
	if len(toks) >= 3 && string(toks[2]) == "b" {
		if key = decodeKey(key); key == nil {
			c.metaError(errBadFormat)
			return
		}
	}
	c.srv.metaCmds.Add(1)
	v := c.srv.store.OpenView(key)
	defer v.Close()
	if !v.Found() {
		c.out = append(c.out, "EN\r\n"...)
		return
	}
	c.out = append(c.out, "ME "...)
	if v.KeyBinary() {
		c.out = base64.StdEncoding.AppendEncode(c.out, v.Key())
	} else {
		c.out = append(c.out, v.Key()...)
	}
	c.out = append(c.out, " exp="...)
	if v.Exp() == 0 {
		c.out = append(c.out, "-1"...)
	} else {
		c.out = strconv.AppendInt(c.out, int64(int32(v.Now()-v.Exp())), 10)
	}
	c.out = append(c.out, " la="...)
	c.out = strconv.AppendUint(c.out, uint64(v.Idle()), 10)
	c.out = append(c.out, " cas="...)
	c.out = strconv.AppendUint(c.out, v.CAS(), 10)
	if v.Fetched() {
		c.out = append(c.out, " fetch=yes"...)
	} else {
		c.out = append(c.out, " fetch=no"...)
	}
	c.out = append(c.out, " cls="...)
	c.out = strconv.AppendUint(c.out, uint64(v.Class()), 10)
	c.out = append(c.out, " size="...)
	c.out = strconv.AppendUint(c.out, v.Size(), 10)
	c.out = append(c.out, '\r', '\n')
}
