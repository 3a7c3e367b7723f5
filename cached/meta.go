package cached

import (
	"strconv"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/store"
)

// The meta commands as memcached 1.6.18 answers them: replies carry the
// returned flags in the order the client sent them; q hides only the
// nominal reply (EN for mg, HD for ms and md, the success of ma); errors
// always show. The protocol package reads the flags.

// metaError answers with an error even under q (out_errstring).
func (c *conn) metaError(err error) error {
	return c.refuse(false, err)
}

// metaNoop is mn: everything so far is sent now.
func (c *conn) metaNoop([][]byte, []byte) error {
	c.out = append(c.out, protocol.MetaNoop+"\r\n"...)
	return c.flush()
}

func (c *conn) metaGet(toks [][]byte, _ []byte) error {
	if err := protocol.CheckMeta(toks, protocol.ErrMetaGetFlagsLong); err != nil {
		return c.metaError(err)
	}
	var of protocol.MetaFlags
	key, err := protocol.ParseMetaFlags(toks, 2, &of)
	if err != nil {
		return c.metaError(err)
	}
	c.noreply = of.NoReply
	start := len(c.out)
	v := c.srv.store.OpenView(key)
	defer v.Close()
	c.logView(&v, key)
	if !v.Found() && of.Vivify && v.Create(nil, 0) {
		c.metaGetHit(&v, toks, &of, true, start)
		return nil
	}
	if !v.Found() {
		v.CountGet(false)
		c.metaGetMiss(toks, key, &of, start)
		return nil
	}
	if !of.Locked && !of.NoUpdate {
		v.Bump()
	}
	c.metaGetHit(&v, toks, &of, false, start)
	return nil
}

// metaGetHit writes an mg hit. An opaque that is too long replaces the
// reply with an error; changes already made stay, as in memcached.
func (c *conn) metaGetHit(v *store.View, toks [][]byte, of *protocol.MetaFlags, created bool, start int) {
	if of.Value {
		c.out = append(c.out, protocol.MetaValue...)
		c.out = strconv.AppendUint(c.out, uint64(v.Len()), 10)
	} else {
		c.out = append(c.out, protocol.MetaHit...)
	}
	won, ttlSet := false, false
	for _, tok := range toks[2:] {
		switch tok[0] {
		case 'T':
			ttlSet = true
			v.SetExp(c.relTime(of.Exptime))
		case 'N':
			if created {
				v.SetExp(c.relTime(of.AutovivExp))
				won = true
			}
		case 'R':
			if !v.TokenSent() && !created && v.Exp() != 0 && v.Exp() < c.relTime(of.RecacheExp) {
				won = true
			}
		case 'O', 'k':
			if !c.echoOpaqueOrKey(tok, v.Key(), v.KeyBinary(), start) {
				return
			}
		default:
			c.appendItemFlag(v, tok[0])
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
	if of.Value {
		c.out = v.Value(c.out)
		c.out = append(c.out, '\r', '\n')
	}
	if of.Locked && !of.NoUpdate {
		v.Bump()
	}
	if ttlSet {
		v.CountTouch(true)
	} else {
		v.CountGet(true)
	}
}

// appendItemFlag writes one of the flags mg returns about the item.
func (c *conn) appendItemFlag(v *store.View, flag byte) {
	switch flag {
	case 's':
		c.out = append(c.out, " s"...)
		c.out = strconv.AppendUint(c.out, uint64(v.Len()), 10)
	case 't':
		c.out = append(c.out, " t"...)
		c.out = protocol.AppendTTL(c.out, v.Exp(), v.Now())
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
	}
}

func (c *conn) metaGetMiss(toks [][]byte, key []byte, of *protocol.MetaFlags, start int) {
	c.out = append(c.out, protocol.MetaMiss...)
	if !c.metaEcho(toks, key, of.KeyBinary, start) {
		return
	}
	c.out = append(c.out, '\r', '\n')
	if of.NoReply {
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
		c.out = protocol.AppendKey(c.out, key, binary)
		return true
	}
	if len(tok) > protocol.MetaMaxOpaque {
		c.out = c.out[:start]
		c.metaError(protocol.ErrMetaOpaqueLong)
		return false
	}
	c.out = append(c.out, ' ')
	c.out = append(c.out, tok...)
	return true
}

func (c *conn) metaDelete(toks [][]byte, _ []byte) error {
	if err := protocol.CheckMeta(toks, protocol.ErrMetaFlagsLong); err != nil {
		return c.metaError(err)
	}
	var of protocol.MetaFlags
	key, err := protocol.ParseMetaFlags(toks, 2, &of)
	if err != nil {
		return c.metaError(protocol.ErrMetaInvalidFlag)
	}
	c.noreply = of.NoReply
	start := len(c.out)
	c.out = append(c.out, "XX"...) // the status, known once the item is
	if !c.metaEcho(toks, key, of.KeyBinary, start) {
		return nil
	}
	c.out = append(c.out, '\r', '\n')
	code := protocol.MetaNotFound
	c.logLookup(key)
	v := c.srv.store.OpenView(key)
	defer v.Close()
	switch {
	case !v.Found():
		v.CountDeleteMiss()
	case of.HasCAS && v.CAS() != of.ReqCAS:
		v.CountDeleteMiss()
		code = protocol.MetaExists
	case of.SetStale:
		if of.NewTTL {
			v.SetExp(c.relTime(of.Exptime))
		}
		v.Invalidate()
		code = protocol.MetaHit
	default:
		v.Delete()
		code = protocol.MetaHit
	}
	copy(c.out[start:], code)
	if code == protocol.MetaHit && of.NoReply {
		c.out = c.out[:start]
	}
	c.noreply = false
	return nil
}
