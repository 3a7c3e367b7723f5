package cached

import (
	"strconv"

	"github.com/cachectl/cachectl/cached/store"
)

// ms and ma: the meta commands that change a value.

var metaResult = [...]string{
	store.Stored:    "HD",
	store.NotStored: "NS",
	store.Exists:    "EX",
	store.NotFound:  "NF",
}

// metaSet is ms <key> <datalen> <flags>*. Once the length is known every
// error swallows the data block, as memcached does.
func (c *conn) metaSet(toks [][]byte) error {
	ntokens := len(toks) + 1
	switch {
	case ntokens < 3:
		c.reply("ERROR")
		return nil
	case len(toks[1]) > keyMaxLength, ntokens == 3:
		c.metaError(errBadFormat)
		return nil
	case ntokens > metaMaxTokens:
		c.metaError(errFlagsLong)
		return nil
	}
	vlen, ok := parseInt32(toks[2])
	if !ok || vlen < 0 || vlen > 1<<31-1-2 {
		c.metaError(errBadFormat)
		return nil
	}
	var of metaFlags
	key, errstr, ok := c.metaPreparse(toks, 3, &of)
	if !ok {
		return c.metaSwallow(errstr, int(vlen))
	}
	c.noreply = of.noReply
	for _, tok := range toks[2:] {
		if tok[0] == 'O' && len(tok) > metaMaxOpaque {
			errstr, ok = errOpaqueLong, false
		}
	}
	var mode store.Mode
	switch of.mode {
	case 0, 'S':
		mode = store.ModeSet
	case 'E':
		mode = store.ModeAdd
	case 'A':
		mode = store.ModeAppend
	case 'P':
		mode = store.ModePrepend
	case 'R':
		mode = store.ModeReplace
	default:
		return c.metaSwallow("CLIENT_ERROR invalid mode for ms M token", int(vlen))
	}
	// A compare value turns set and replace into cas; add and
	// append/prepend check it themselves.
	if of.hasCAS && (mode == store.ModeSet || mode == store.ModeReplace) {
		mode = store.ModeCAS
	}
	if !ok {
		return c.metaSwallow(errstr, int(vlen))
	}
	st := c.srv.store
	p, err := st.Alloc(key, of.clientFlags, of.exptime, int(vlen))
	if err != nil {
		if err == store.ErrTooLarge {
			errstr = "SERVER_ERROR object too large for cache"
		} else {
			errstr = "SERVER_ERROR out of memory storing object"
		}
		// A failed store must not leave the old value readable.
		st.Unlink(key)
		return c.metaSwallow(errstr, int(vlen))
	}
	ok, err = c.readValue(p)
	if err != nil {
		st.Abort(p, false)
		return err
	}
	if !ok {
		st.Abort(p, true)
		c.metaError("CLIENT_ERROR bad data chunk")
		return nil
	}
	res, cas := st.CommitMeta(p, mode, of.reqCAS, of.setStale && mode == store.ModeCAS, of.keyBinary)
	if res == store.Stored && of.noReply {
		c.noreply = false
		return nil
	}
	c.out = append(c.out, metaResult[res]...)
	for _, tok := range toks[3:] {
		switch tok[0] {
		case 'O':
			c.out = append(c.out, ' ')
			c.out = append(c.out, tok...)
		case 'k':
			c.out = appendKey(c.out, key, of.keyBinary)
		case 'c':
			c.out = append(c.out, " c"...)
			c.out = strconv.AppendUint(c.out, cas, 10)
		}
	}
	c.out = append(c.out, '\r', '\n')
	c.noreply = false
	return nil
}

// metaSwallow answers an ms error and drops its data block.
func (c *conn) metaSwallow(errstr string, vlen int) error {
	c.metaError(errstr)
	c.setState(stateSwallow)
	return c.discard(vlen + 2)
}

// metaArithmetic is ma <key> <flags>*: incr (default) or decr by D
// (default 1), creating the item with J (default 0) when N is given.
func (c *conn) metaArithmetic(toks [][]byte) {
	if !c.metaCheck(toks, errFlagsLong) {
		return
	}
	of := metaFlags{delta: 1}
	key, _, ok := c.metaPreparse(toks, 2, &of)
	if !ok {
		c.metaError(errInvalidFlag)
		return
	}
	c.noreply = of.noReply
	incr := true
	switch of.mode {
	case 0, 'I', '+':
	case 'D', '-':
		incr = false
	default:
		c.metaError("CLIENT_ERROR invalid mode for ma M token")
		return
	}
	start := len(c.out)
	v := c.srv.store.OpenView(key)
	defer v.Close()
	var digits [20]byte
	num := digits[:0]
	created, skip := false, false
	if v.Found() {
		var res store.DeltaResult
		num, res = v.Delta(num, incr, of.delta, of.reqCAS)
		switch res {
		case store.DeltaOK:
			skip = of.noReply
		case store.DeltaNonNumeric:
			c.metaError("CLIENT_ERROR cannot increment or decrement non-numeric value")
			return
		case store.DeltaNoMemory:
			c.metaError("SERVER_ERROR out of memory")
			return
		case store.DeltaExists:
			c.out = append(c.out, "EX"...)
			c.metaArithEcho(toks, key, &of, start)
			return
		}
	} else if of.vivify {
		num = strconv.AppendUint(num, of.initial, 10)
		if !v.Create(num, 0) {
			c.metaError("SERVER_ERROR Out of memory allocating new item")
			return
		}
		created = true
	} else {
		v.CountDeltaMiss(incr)
		c.out = append(c.out, "NF"...)
		c.metaArithEcho(toks, key, &of, start)
		return
	}
	if c.metaArithHit(&v, toks, key, &of, num, created, start) && skip {
		c.out = c.out[:start]
	}
}

// metaArithEcho finishes an ma reply that has no item.
func (c *conn) metaArithEcho(toks [][]byte, key []byte, of *metaFlags, start int) {
	if c.metaEcho(toks, key, of.keyBinary, start) {
		c.out = append(c.out, '\r', '\n')
	}
}

// metaArithHit writes the reply for an updated or created item; false when
// an opaque was too long and the error replaced it.
func (c *conn) metaArithHit(v *store.View, toks [][]byte, key []byte, of *metaFlags, num []byte, created bool, start int) bool {
	if of.value {
		c.out = append(c.out, "VA "...)
		c.out = strconv.AppendUint(c.out, uint64(len(num)), 10)
	} else {
		c.out = append(c.out, "HD"...)
	}
	for _, tok := range toks[2:] {
		switch tok[0] {
		case 'c':
			c.out = append(c.out, " c"...)
			c.out = strconv.AppendUint(c.out, v.CAS(), 10)
		case 't':
			c.out = append(c.out, " t"...)
			c.out = appendTTL(c.out, v.Exp(), v.Now())
		case 'T':
			v.SetExp(of.exptime)
		case 'N':
			if created {
				v.SetExp(of.autovivExp)
			}
		case 'O', 'k':
			if !c.echoOpaqueOrKey(tok, key, of.keyBinary, start) {
				return false
			}
		}
	}
	c.out = append(c.out, '\r', '\n')
	if of.value {
		c.out = append(c.out, num...)
		c.out = append(c.out, '\r', '\n')
	}
	return true
}
