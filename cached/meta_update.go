package cached

import (
	"strconv"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/store"
)

// ms and ma: the meta commands that change a value.

var metaResult = [...]string{
	store.Stored:    protocol.MetaHit,
	store.NotStored: protocol.MetaNotStored,
	store.Exists:    protocol.MetaExists,
	store.NotFound:  protocol.MetaNotFound,
}

// metaSetMode maps ms's M flag onto a store mode.
func metaSetMode(m byte) (store.Mode, bool) {
	switch m {
	case 0, 'S':
		return store.ModeSet, true
	case 'E':
		return store.ModeAdd, true
	case 'A':
		return store.ModeAppend, true
	case 'P':
		return store.ModePrepend, true
	case 'R':
		return store.ModeReplace, true
	}
	return 0, false
}

// metaSet is ms <key> <datalen> <flags>*. Once the length is known every
// error swallows the data block, as memcached does.
func (c *conn) metaSet(toks [][]byte, _ []byte) error {
	vlen, err := protocol.CheckMetaSet(toks)
	if err != nil {
		return c.metaError(err)
	}
	var of protocol.MetaFlags
	key, err := protocol.ParseMetaFlags(toks, 3, &of)
	if err != nil {
		return c.metaSwallow(err, vlen)
	}
	c.noreply = of.NoReply
	for _, tok := range toks[2:] {
		if tok[0] == 'O' && len(tok) > protocol.MetaMaxOpaque {
			err = protocol.ErrMetaOpaqueLong
		}
	}
	mode, ok := metaSetMode(of.Mode)
	if !ok {
		return c.metaSwallow(protocol.ErrMetaSetMode, vlen)
	}
	// A compare value turns set and replace into cas; add and
	// append/prepend check it themselves.
	if of.HasCAS && (mode == store.ModeSet || mode == store.ModeReplace) {
		mode = store.ModeCAS
	}
	if err != nil {
		return c.metaSwallow(err, vlen)
	}
	st := c.srv.store
	exp := c.relTime(of.Exptime)
	p, aerr := st.Alloc(key, of.ClientFlags, exp, vlen)
	if aerr != nil {
		c.logStoreFailed(key, mode, aerr)
		// A failed store must not leave the old value readable.
		st.Unlink(key)
		return c.metaSwallow(storeFailure(aerr), vlen)
	}
	ok, err = c.readValue(p)
	if err != nil {
		st.Abort(p, false)
		return err
	}
	if !ok {
		st.Abort(p, true)
		return c.metaError(protocol.ErrBadDataChunk)
	}
	c.logLookup(key)
	res, cas := st.CommitMeta(p, mode, of.ReqCAS, of.SetStale && mode == store.ModeCAS, of.KeyBinary)
	c.logStore(key, mode, res, exp, p.Class(), vlen)
	c.noreply = false
	if res == store.Stored && of.NoReply {
		return nil
	}
	c.out = append(c.out, metaResult[res]...)
	for _, tok := range toks[3:] {
		switch tok[0] {
		case 'O':
			c.out = append(c.out, ' ')
			c.out = append(c.out, tok...)
		case 'k':
			c.out = protocol.AppendKey(c.out, key, of.KeyBinary)
		case 'c':
			c.out = append(c.out, " c"...)
			c.out = strconv.AppendUint(c.out, cas, 10)
		}
	}
	c.out = append(c.out, '\r', '\n')
	return nil
}

// metaSwallow answers an ms error and drops its data block.
func (c *conn) metaSwallow(err error, vlen int) error {
	if err := c.metaError(err); err != nil {
		return err
	}
	c.setState(stateSwallow)
	return c.discard(vlen + 2)
}

// metaArithmetic is ma <key> <flags>*: incr (default) or decr by D
// (default 1), creating the item with J (default 0) when N is given.
func (c *conn) metaArithmetic(toks [][]byte, _ []byte) error {
	if err := protocol.CheckMeta(toks, protocol.ErrMetaFlagsLong); err != nil {
		return c.metaError(err)
	}
	of := protocol.MetaFlags{Delta: 1}
	key, err := protocol.ParseMetaFlags(toks, 2, &of)
	if err != nil {
		return c.metaError(protocol.ErrMetaInvalidFlag)
	}
	c.noreply = of.NoReply
	incr := true
	switch of.Mode {
	case 0, 'I', '+':
	case 'D', '-':
		incr = false
	default:
		return c.metaError(protocol.ErrMetaArithMode)
	}
	start := len(c.out)
	c.logLookup(key)
	v := c.srv.store.OpenView(key)
	defer v.Close()
	var digits [20]byte
	num := digits[:0]
	created, skip := false, false
	switch {
	case v.Found():
		var res store.DeltaResult
		num, res = v.Delta(num, incr, of.Delta, of.ReqCAS)
		switch res {
		case store.DeltaOK:
			skip = of.NoReply
		case store.DeltaNonNumeric:
			return c.metaError(protocol.ErrNonNumeric)
		case store.DeltaNoMemory:
			return c.metaError(protocol.ErrNoMemory)
		case store.DeltaExists:
			c.out = append(c.out, protocol.MetaExists...)
			c.metaArithEcho(toks, key, &of, start)
			return nil
		}
	case of.Vivify:
		num = strconv.AppendUint(num, of.Initial, 10)
		if !v.Create(num, 0) {
			return c.metaError(protocol.ErrNoMemoryCreate)
		}
		created = true
	default:
		v.CountDeltaMiss(incr)
		c.out = append(c.out, protocol.MetaNotFound...)
		c.metaArithEcho(toks, key, &of, start)
		return nil
	}
	if c.metaArithHit(&v, toks, key, &of, num, created, start) && skip {
		c.out = c.out[:start]
	}
	return nil
}

// metaArithEcho finishes an ma reply that has no item.
func (c *conn) metaArithEcho(toks [][]byte, key []byte, of *protocol.MetaFlags, start int) {
	if c.metaEcho(toks, key, of.KeyBinary, start) {
		c.out = append(c.out, '\r', '\n')
	}
}

// metaArithHit writes the reply for an updated or created item; false when
// an opaque was too long and the error replaced it.
func (c *conn) metaArithHit(v *store.View, toks [][]byte, key []byte, of *protocol.MetaFlags, num []byte, created bool, start int) bool {
	if of.Value {
		c.out = append(c.out, protocol.MetaValue...)
		c.out = strconv.AppendUint(c.out, uint64(len(num)), 10)
	} else {
		c.out = append(c.out, protocol.MetaHit...)
	}
	for _, tok := range toks[2:] {
		switch tok[0] {
		case 'c':
			c.out = append(c.out, " c"...)
			c.out = strconv.AppendUint(c.out, v.CAS(), 10)
		case 't':
			c.out = append(c.out, " t"...)
			c.out = protocol.AppendTTL(c.out, v.Exp(), v.Now())
		case 'T':
			v.SetExp(c.relTime(of.Exptime))
		case 'N':
			if created {
				v.SetExp(c.relTime(of.AutovivExp))
			}
		case 'O', 'k':
			if !c.echoOpaqueOrKey(tok, key, of.KeyBinary, start) {
				return false
			}
		}
	}
	c.out = append(c.out, '\r', '\n')
	if of.Value {
		c.out = append(c.out, num...)
		c.out = append(c.out, '\r', '\n')
	}
	return true
}
