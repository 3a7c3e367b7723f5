package cached

import (
	"encoding/binary"
	"errors"

	"github.com/cachectl/cachectl/cached/store"
)

// The binary commands. Each answers through binResponse (silent for quiet
// commands) or binError (always sent), as proto_bin.c does.

// binGet serves the get, getk, touch and gat families.
func (c *conn) binGet(req *binRequest, extras, key []byte) {
	st := c.srv.store
	touch := req.cmd == opTouch || req.cmd == opGAT || req.cmd == opGATK
	withKey := req.cmd == opGetK || req.cmd == opGATK
	var m store.Meta
	var hit bool
	if touch {
		exp := binary.BigEndian.Uint32(extras)
		c.scratch, m, hit = st.GetAndTouch(c.scratch[:0], key, st.RelTime(int64(exp)))
	} else {
		c.scratch, m, hit = st.Get(c.scratch[:0], key)
	}
	if !hit {
		switch {
		case req.quiet:
		case withKey:
			c.binHeaderOut(req, statusNotFound, 0, uint16(len(key)), uint32(len(key)), 0)
			c.out = append(c.out, key...)
		default:
			c.binError(req, statusNotFound, "")
		}
		return
	}
	value := c.scratch
	if req.cmd == opTouch {
		value = nil
	}
	if !withKey {
		key = nil
	}
	// A hit is answered even for the quiet forms: that is their point.
	var flags [binFlagsLen]byte
	binary.BigEndian.PutUint32(flags[:], m.Flags)
	c.binHeaderOut(req, statusOK, binFlagsLen, uint16(len(key)), uint32(binFlagsLen+len(key)+len(value)), m.CAS)
	c.out = append(c.out, flags[:]...)
	c.out = append(c.out, key...)
	c.out = append(c.out, value...)
	if cap(c.scratch) > keepBuffer {
		c.scratch = nil
	}
}

// binUpdate serves set, add and replace; a CAS in the header makes any of
// them a compare-and-swap, as in memcached.
func (c *conn) binUpdate(req *binRequest, extras, key []byte) error {
	flags := binary.BigEndian.Uint32(extras[0:])
	exp := binary.BigEndian.Uint32(extras[4:])
	vlen := int64(req.bodylen) - int64(req.keylen) - int64(req.extlen)
	mode := store.ModeSet
	switch {
	case req.cas != 0:
		mode = store.ModeCAS
	case req.cmd == opAdd:
		mode = store.ModeAdd
	case req.cmd == opReplace:
		mode = store.ModeReplace
	}
	return c.binStore(req, key, flags, c.srv.store.RelTime(int64(exp)), vlen, mode)
}

// binAppend serves append and prepend: the value is joined to the existing
// item, which keeps its flags and expiry.
func (c *conn) binAppend(req *binRequest, key []byte) error {
	vlen := int64(req.bodylen) - int64(req.keylen)
	mode := store.ModeAppend
	if req.cmd == opPrepend {
		mode = store.ModePrepend
	}
	return c.binStore(req, key, 0, 0, vlen, mode)
}

// binStore allocates the item, reads the value into it and commits it.
func (c *conn) binStore(req *binRequest, key []byte, flags, exp uint32, vlen int64, mode store.Mode) error {
	st := c.srv.store
	p, err := st.Alloc(key, flags, exp, int(vlen))
	if err != nil {
		if errors.Is(err, store.ErrTooLarge) {
			c.binError(req, statusTooLarge, "")
		} else {
			c.binError(req, statusNoMemory, "Out of memory allocating item")
		}
		// A set that failed must not leave the old value readable.
		if req.cmd == opSet {
			st.Unlink(key)
		}
		return c.swallow(vlen)
	}
	c.setState(stateNread)
	c.segs = st.Value(p, c.segs[:0])
	for _, seg := range c.segs {
		if err := c.readFull(seg); err != nil {
			st.Abort(p, false)
			return err
		}
	}
	res, cas := st.Commit(p, mode, req.cas)
	switch res {
	case store.Stored:
		c.binResponse(req, cas, nil, nil, nil)
	case store.Exists:
		c.binError(req, statusExists, "")
	case store.NotFound:
		c.binError(req, statusNotFound, "")
	default:
		switch mode {
		case store.ModeAdd:
			c.binError(req, statusExists, "")
		case store.ModeReplace:
			c.binError(req, statusNotFound, "")
		default:
			c.binError(req, statusNotStored, "")
		}
	}
	return nil
}

func (c *conn) binDelete(req *binRequest, key []byte) {
	switch c.srv.store.DeleteCAS(key, req.cas) {
	case store.Deleted:
		c.binResponse(req, 0, nil, nil, nil)
	case store.DeleteExists:
		c.binError(req, statusExists, "")
	default:
		c.binError(req, statusNotFound, "")
	}
}

// binArith serves increment and decrement; expiration 0xffffffff means a
// missing counter is not created.
func (c *conn) binArith(req *binRequest, extras, key []byte) {
	st := c.srv.store
	exp := binary.BigEndian.Uint32(extras[16:])
	a := store.Arith{
		Incr:    req.cmd == opIncrement,
		Delta:   binary.BigEndian.Uint64(extras[0:]),
		Initial: binary.BigEndian.Uint64(extras[8:]),
		Create:  exp != binNoCreate,
		CAS:     req.cas,
	}
	if a.Create {
		a.Exp = st.RelTime(int64(exp))
	}
	v, cas, res := st.Arithmetic(key, a)
	switch res {
	case store.ArithOK, store.ArithCreated:
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], v)
		c.binResponse(req, cas, nil, nil, b[:])
	case store.ArithNonNumeric:
		c.binError(req, statusBadDelta, "")
	case store.ArithNoMemory:
		c.binError(req, statusNoMemory, "Out of memory incrementing value")
	case store.ArithNoMemoryCreate:
		c.binError(req, statusNoMemory, "Out of memory allocating new item")
	case store.ArithExists:
		c.binError(req, statusExists, "")
	default:
		c.binError(req, statusNotFound, "")
	}
}

func (c *conn) binFlush(req *binRequest, extras []byte) {
	if !c.srv.cfg.FlushEnabled {
		// memcached answers a refused flush as an auth failure.
		c.binError(req, statusAuthError, "")
		return
	}
	var exp uint32
	if len(extras) == 4 {
		exp = binary.BigEndian.Uint32(extras)
	}
	c.srv.store.FlushAll(int64(exp))
	c.binResponse(req, 0, nil, nil, nil)
}
