package cached

import (
	"encoding/binary"
	"errors"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/store"
)

// The binary commands. Each answers through binResponse (silent for quiet
// commands) or binError (always sent), as proto_bin.c does.

// binGet serves the get, getk, touch and gat families.
func (c *conn) binGet(req *protocol.BinaryRequest, extras, key []byte) error {
	st := c.srv.store
	touch := req.Cmd == protocol.OpTouch || req.Cmd == protocol.OpGAT || req.Cmd == protocol.OpGATK
	withKey := req.Cmd == protocol.OpGetK || req.Cmd == protocol.OpGATK
	var m store.Meta
	var hit bool
	if touch {
		exp := binary.BigEndian.Uint32(extras)
		c.scratch, m, hit = st.GetAndTouch(c.scratch[:0], key, st.RelTime(int64(exp)))
	} else {
		c.scratch, m, hit = st.Get(c.scratch[:0], key)
	}
	c.detailGet(key, hit)
	c.logGet(key, m, hit)
	if !hit {
		switch {
		case req.Quiet:
		case withKey:
			c.binHeaderOut(req, protocol.StatusNotFound, 0, uint16(len(key)), uint32(len(key)), 0)
			c.out = append(c.out, key...)
		default:
			c.binError(req, protocol.StatusNotFound, "")
		}
		return nil
	}
	value := c.scratch
	if req.Cmd == protocol.OpTouch {
		value = nil
	}
	if !withKey {
		key = nil
	}
	// A hit is answered even for the quiet forms: that is their point.
	var flags [protocol.FlagsLen]byte
	binary.BigEndian.PutUint32(flags[:], m.Flags)
	c.binHeaderOut(req, protocol.StatusOK, protocol.FlagsLen, uint16(len(key)), uint32(protocol.FlagsLen+len(key)+len(value)), m.CAS)
	c.out = append(c.out, flags[:]...)
	c.out = append(c.out, key...)
	c.out = append(c.out, value...)
	if cap(c.scratch) > keepBuffer {
		c.scratch = nil
	}
	return nil
}

// binUpdate serves set, add and replace; a CAS in the header makes any of
// them a compare-and-swap, as in memcached.
func (c *conn) binUpdate(req *protocol.BinaryRequest, extras, key []byte) error {
	flags := binary.BigEndian.Uint32(extras[0:])
	exp := binary.BigEndian.Uint32(extras[4:])
	vlen := req.ValueLen()
	mode := store.ModeSet
	switch {
	case req.CAS != 0:
		mode = store.ModeCAS
	case req.Cmd == protocol.OpAdd:
		mode = store.ModeAdd
	case req.Cmd == protocol.OpReplace:
		mode = store.ModeReplace
	}
	return c.binStore(req, key, flags, c.srv.store.RelTime(int64(exp)), vlen, mode)
}

// binAppend serves append and prepend: the value is joined to the existing
// item, which keeps its flags and expiry.
func (c *conn) binAppend(req *protocol.BinaryRequest, _, key []byte) error {
	vlen := req.ValueLen()
	mode := store.ModeAppend
	if req.Cmd == protocol.OpPrepend {
		mode = store.ModePrepend
	}
	return c.binStore(req, key, 0, 0, vlen, mode)
}

// binStore allocates the item, reads the value into it and commits it.
func (c *conn) binStore(req *protocol.BinaryRequest, key []byte, flags, exp uint32, vlen int64, mode store.Mode) error {
	c.detailSet(key)
	st := c.srv.store
	p, err := st.Alloc(key, flags, exp, int(vlen))
	if err != nil {
		c.logStoreFailed(key, mode, err)
		if errors.Is(err, store.ErrTooLarge) {
			c.binError(req, protocol.StatusTooLarge, "")
		} else {
			c.binError(req, protocol.StatusNoMemory, protocol.BinaryNoMemoryItem)
		}
		// A set that failed must not leave the old value readable.
		if req.Cmd == protocol.OpSet {
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
	c.logLookup(key)
	res, cas := st.Commit(p, mode, req.CAS)
	c.logStore(key, mode, res, exp, p.Class(), int(vlen))
	switch res {
	case store.Stored:
		c.binResponse(req, cas, nil, nil, nil)
	case store.Exists:
		c.binError(req, protocol.StatusExists, "")
	case store.NotFound:
		c.binError(req, protocol.StatusNotFound, "")
	default:
		switch mode {
		case store.ModeAdd:
			c.binError(req, protocol.StatusExists, "")
		case store.ModeReplace:
			c.binError(req, protocol.StatusNotFound, "")
		default:
			c.binError(req, protocol.StatusNotStored, "")
		}
	}
	return nil
}

func (c *conn) binDelete(req *protocol.BinaryRequest, _, key []byte) error {
	c.detailDelete(key)
	switch c.srv.store.DeleteCAS(key, req.CAS) {
	case store.Deleted:
		c.binResponse(req, 0, nil, nil, nil)
	case store.DeleteExists:
		c.binError(req, protocol.StatusExists, "")
	default:
		c.binError(req, protocol.StatusNotFound, "")
	}
	return nil
}

// binArith serves increment and decrement; expiration 0xffffffff means a
// missing counter is not created.
func (c *conn) binArith(req *protocol.BinaryRequest, extras, key []byte) error {
	st := c.srv.store
	exp := binary.BigEndian.Uint32(extras[16:])
	a := store.Arith{
		Incr:    req.Cmd == protocol.OpIncrement,
		Delta:   binary.BigEndian.Uint64(extras[0:]),
		Initial: binary.BigEndian.Uint64(extras[8:]),
		Create:  exp != protocol.NoCreate,
		CAS:     req.CAS,
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
		c.binError(req, protocol.StatusBadDelta, "")
	case store.ArithNoMemory:
		c.binError(req, protocol.StatusNoMemory, protocol.BinaryNoMemoryIncr)
	case store.ArithNoMemoryCreate:
		c.binError(req, protocol.StatusNoMemory, protocol.BinaryNoMemoryCreate)
	case store.ArithExists:
		c.binError(req, protocol.StatusExists, "")
	default:
		c.binError(req, protocol.StatusNotFound, "")
	}
	return nil
}

func (c *conn) binFlush(req *protocol.BinaryRequest, extras, _ []byte) error {
	if !c.srv.cfg.FlushEnabled {
		// memcached answers a refused flush as an auth failure.
		c.binError(req, protocol.StatusAuthError, "")
		return nil
	}
	var exp uint32
	if len(extras) == 4 {
		exp = binary.BigEndian.Uint32(extras)
	}
	c.srv.store.FlushAll(int64(exp))
	c.binResponse(req, 0, nil, nil, nil)
	return nil
}

func (c *conn) binVersion(req *protocol.BinaryRequest, _, _ []byte) error {
	c.binResponse(req, 0, nil, nil, []byte(ProtocolVersion))
	return nil
}

// binNoop answers and pushes out everything queued before it.
func (c *conn) binNoop(req *protocol.BinaryRequest, _, _ []byte) error {
	c.binResponse(req, 0, nil, nil, nil)
	return c.flush()
}

func (c *conn) binQuit(req *protocol.BinaryRequest, _, _ []byte) error {
	c.binResponse(req, 0, nil, nil, nil)
	c.closing = true
	return nil
}

// binNoSASL answers the SASL commands as memcached without -S does:
// unknown, and an authentication step's body beyond the key is skipped.
func (c *conn) binNoSASL(req *protocol.BinaryRequest, _, _ []byte) error {
	c.binError(req, protocol.StatusUnknownCmd, "")
	if req.Cmd == protocol.OpSASLList {
		return nil
	}
	return c.swallow(int64(req.BodyLen) - int64(req.KeyLen))
}
