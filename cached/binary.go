package cached

import (
	"encoding/binary"
	"fmt"
)

// The binary protocol, packet for packet as memcached 1.6.18's proto_bin.c
// serves it, quirks included: clients (libmemcached, PHP's session handler)
// were written against that server, not against the protocol document.
//
// A request is a 24-byte header, extras, key and value. The header, extras
// and key are parsed in place in the input buffer (at most 24+255+65535
// bytes, so the buffer stays bounded); a value is read straight into item
// memory, and a value that cannot be stored is discarded in buffer-sized
// chunks, so a header claiming a huge body never makes the daemon allocate it.

// Protocol is the -B setting: which protocols a connection may speak.
type Protocol uint8

const (
	ProtocolAuto   Protocol = iota // the first byte decides, per connection
	ProtocolASCII                  // text only
	ProtocolBinary                 // binary only
)

// String is the name `stats settings` reports as binding_protocol.
func (p Protocol) String() string {
	switch p {
	case ProtocolASCII:
		return "ascii"
	case ProtocolBinary:
		return "binary"
	}
	return "auto-negotiate"
}

// ParseProtocol reads a -B value.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "auto":
		return ProtocolAuto, nil
	case "ascii":
		return ProtocolASCII, nil
	case "binary":
		return ProtocolBinary, nil
	}
	return ProtocolAuto, fmt.Errorf("protocol %q: should be one of auto, binary, or ascii", s)
}

const (
	binHeaderLen   = 24
	binMagicReq    = 0x80
	binMagicRes    = 0x81
	binFlagsLen    = 4  // extras of a get response
	binSetExtras   = 8  // flags, expiration
	binArithExtras = 20 // delta, initial, expiration
	binTouchExtras = 4  // expiration
	binNoCreate    = 0xffffffff
)

// Opcodes memcached 1.6.18 serves.
const (
	opGet        = 0x00
	opSet        = 0x01
	opAdd        = 0x02
	opReplace    = 0x03
	opDelete     = 0x04
	opIncrement  = 0x05
	opDecrement  = 0x06
	opQuit       = 0x07
	opFlush      = 0x08
	opGetQ       = 0x09
	opNoop       = 0x0a
	opVersion    = 0x0b
	opGetK       = 0x0c
	opGetKQ      = 0x0d
	opAppend     = 0x0e
	opPrepend    = 0x0f
	opStat       = 0x10
	opSetQ       = 0x11
	opAddQ       = 0x12
	opReplaceQ   = 0x13
	opDeleteQ    = 0x14
	opIncrementQ = 0x15
	opDecrementQ = 0x16
	opQuitQ      = 0x17
	opFlushQ     = 0x18
	opAppendQ    = 0x19
	opPrependQ   = 0x1a
	opTouch      = 0x1c
	opGAT        = 0x1d
	opGATQ       = 0x1e
	opSASLList   = 0x20
	opSASLAuth   = 0x21
	opSASLStep   = 0x22
	opGATK       = 0x23
	opGATKQ      = 0x24
)

// quietOf maps each quiet opcode to the command it is a quiet form of.
var quietOf = map[uint8]uint8{
	opSetQ: opSet, opAddQ: opAdd, opReplaceQ: opReplace, opDeleteQ: opDelete,
	opIncrementQ: opIncrement, opDecrementQ: opDecrement, opQuitQ: opQuit,
	opFlushQ: opFlush, opAppendQ: opAppend, opPrependQ: opPrepend,
	opGetQ: opGet, opGetKQ: opGetK, opGATQ: opGAT, opGATKQ: opGATK,
}

// Response statuses.
const (
	statusOK         = 0x00
	statusNotFound   = 0x01
	statusExists     = 0x02
	statusTooLarge   = 0x03
	statusInvalid    = 0x04
	statusNotStored  = 0x05
	statusBadDelta   = 0x06
	statusAuthError  = 0x20
	statusUnknownCmd = 0x81
	statusNoMemory   = 0x82
)

// statusText is write_bin_error's default message for each status.
var statusText = map[uint16]string{
	statusNoMemory:   "Out of memory",
	statusUnknownCmd: "Unknown command",
	statusNotFound:   "Not found",
	statusInvalid:    "Invalid arguments",
	statusExists:     "Data exists for key.",
	statusTooLarge:   "Too large.",
	statusBadDelta:   "Non-numeric server-side value for incr or decr",
	statusNotStored:  "Not stored.",
	statusAuthError:  "Auth failure.",
}

// binHeader is a request header in host order.
type binHeader struct {
	magic   uint8
	opcode  uint8
	keylen  uint16
	extlen  uint8
	bodylen uint32
	opaque  uint32
	cas     uint64
}

func parseBinHeader(b []byte) binHeader {
	return binHeader{
		magic:   b[0],
		opcode:  b[1],
		keylen:  binary.BigEndian.Uint16(b[2:]),
		extlen:  b[4],
		bodylen: binary.BigEndian.Uint32(b[8:]),
		opaque:  binary.BigEndian.Uint32(b[12:]),
		cas:     binary.BigEndian.Uint64(b[16:]),
	}
}

// binRequest is the request being answered: responses echo its opcode
// and opaque, and quiet ones stay silent on success.
type binRequest struct {
	binHeader
	cmd   uint8 // opcode with the quiet form folded onto the loud one
	quiet bool
}

// binaryMode decides, once per connection, which protocol it speaks: with
// -B auto a first byte of 0x80 means binary, as in memcached.
func (c *conn) binaryMode() bool {
	if !c.negotiated {
		switch c.srv.cfg.Protocol {
		case ProtocolBinary:
			c.binary = true
		case ProtocolAuto:
			if c.r == c.w {
				return false
			}
			c.binary = c.in[c.r] == binMagicReq
		}
		c.negotiated = true
	}
	return c.binary
}

// errBadMagic closes a binary connection whose next packet does not start
// with the request magic; memcached hangs up without a reply.
var errBadMagic = fmt.Errorf("%w: bad binary request magic", errClose)

// processBinary executes every complete request header in the buffer.
func (c *conn) processBinary() error {
	for !c.closing {
		buf := c.in[c.r:c.w]
		if len(buf) < binHeaderLen {
			return nil
		}
		h := parseBinHeader(buf)
		if h.magic != binMagicReq {
			return errBadMagic
		}
		need := binHeaderLen + int(h.extlen) + int(h.keylen)
		if len(buf) < need {
			return nil
		}
		extras := buf[binHeaderLen : binHeaderLen+int(h.extlen)]
		key := buf[binHeaderLen+int(h.extlen) : need]
		c.r += need
		c.setState(stateParseCmd)
		c.lastCmd.Store(c.srv.store.Now())
		if c.srv.verbosity.Load() > 1 {
			c.srv.log.Debug("binary request", "conn", c.id, "opcode", h.opcode, "key", string(key), "bodylen", h.bodylen)
		}
		if err := c.dispatchBinary(h, extras, key); err != nil {
			return err
		}
		if len(c.out) >= flushThreshold {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// dispatchBinary validates a request as memcached does and runs it. A
// malformed request is answered with "Invalid arguments" and the
// connection is closed after the reply.
func (c *conn) dispatchBinary(h binHeader, extras, key []byte) error {
	req := binRequest{binHeader: h, cmd: h.opcode}
	if loud, ok := quietOf[h.opcode]; ok {
		req.cmd, req.quiet = loud, true
	}
	ext, kl, bl := int(h.extlen), int(h.keylen), int64(h.bodylen)
	if int64(kl+ext) > bl {
		c.binError(&req, statusUnknownCmd, "")
		c.closing = true
		return nil
	}
	if kl > keyMaxLength {
		c.binProtocolError(&req)
		return nil
	}
	valid := true
	switch req.cmd {
	case opVersion:
		valid = ext == 0 && kl == 0 && bl == 0
		if valid {
			c.binResponse(&req, 0, nil, nil, []byte(ProtocolVersion))
		}
	case opFlush:
		valid = kl == 0 && bl == int64(ext) && (ext == 0 || ext == 4)
		if valid {
			c.binFlush(&req, extras)
		}
	case opNoop:
		valid = ext == 0 && kl == 0 && bl == 0
		if valid {
			c.binResponse(&req, 0, nil, nil, nil)
			return c.flush() // a noop pushes out everything queued before it
		}
	case opSet, opAdd, opReplace:
		valid = ext == binSetExtras && kl != 0 && bl >= int64(kl+binSetExtras)
		if valid {
			return c.binUpdate(&req, extras, key)
		}
	case opGet, opGetK:
		valid = ext == 0 && bl == int64(kl) && kl > 0
		if valid {
			c.binGet(&req, extras, key)
		}
	case opDelete:
		valid = kl > 0 && ext == 0 && bl == int64(kl)
		if valid {
			c.binDelete(&req, key)
		}
	case opIncrement, opDecrement:
		valid = kl > 0 && ext == binArithExtras && bl == int64(kl+ext)
		if valid {
			c.binArith(&req, extras, key)
		}
	case opAppend, opPrepend:
		valid = kl > 0 && ext == 0
		if valid {
			return c.binAppend(&req, key)
		}
	case opStat:
		valid = ext == 0
		if valid {
			c.binStat(&req, key)
		}
	case opQuit:
		valid = kl == 0 && ext == 0 && bl == 0
		if valid {
			c.binResponse(&req, 0, nil, nil, nil)
			c.closing = true
		}
	case opSASLList:
		// SASL is not enabled (memcached without -S): unknown, and the
		// body beyond the key is skipped.
		valid = ext == 0 && kl == 0 && bl == 0
		if valid {
			c.binError(&req, statusUnknownCmd, "")
		}
	case opSASLAuth, opSASLStep:
		valid = ext == 0 && kl != 0
		if valid {
			c.binError(&req, statusUnknownCmd, "")
			return c.swallow(bl - int64(kl))
		}
	case opTouch, opGAT, opGATK:
		valid = ext == binTouchExtras && kl != 0
		if valid {
			c.binGet(&req, extras, key)
		}
	default:
		// memcached swallows bodylen more bytes although extras and key
		// were already consumed; clients only send bodyless unknown
		// opcodes (or ones whose body is all value), where that is exact.
		c.binError(&req, statusUnknownCmd, "")
		return c.swallow(bl)
	}
	if !valid {
		c.binProtocolError(&req)
	}
	return nil
}

// binProtocolError is memcached's answer to a malformed request: "Invalid
// arguments", then the connection is closed.
func (c *conn) binProtocolError(req *binRequest) {
	c.binError(req, statusInvalid, "")
	if c.srv.verbosity.Load() > 0 {
		c.srv.log.Info("binary protocol error, closing connection", "conn", c.id, "opcode", req.opcode)
	}
	c.closing = true
}

// swallow discards n body bytes of a request that will not be executed.
func (c *conn) swallow(n int64) error {
	c.setState(stateSwallow)
	for n > 0 {
		k := int(min(n, 1<<30))
		if err := c.discard(k); err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

// binHeaderOut appends a response header.
func (c *conn) binHeaderOut(req *binRequest, status uint16, extlen uint8, keylen uint16, bodylen uint32, cas uint64) {
	var b [binHeaderLen]byte
	b[0] = binMagicRes
	b[1] = req.opcode
	binary.BigEndian.PutUint16(b[2:], keylen)
	b[4] = extlen
	binary.BigEndian.PutUint16(b[6:], status)
	binary.BigEndian.PutUint32(b[8:], bodylen)
	binary.BigEndian.PutUint32(b[12:], req.opaque)
	binary.BigEndian.PutUint64(b[16:], cas)
	c.out = append(c.out, b[:]...)
}

// binResponse is a successful reply; quiet commands send none.
func (c *conn) binResponse(req *binRequest, cas uint64, extras, key, value []byte) {
	if req.quiet {
		return
	}
	c.binHeaderOut(req, statusOK, uint8(len(extras)), uint16(len(key)), uint32(len(extras)+len(key)+len(value)), cas)
	c.out = append(c.out, extras...)
	c.out = append(c.out, key...)
	c.out = append(c.out, value...)
}

// binError is an error reply, sent even for quiet commands; msg "" is the
// status's standard text.
func (c *conn) binError(req *binRequest, status uint16, msg string) {
	if msg == "" {
		msg = statusText[status]
	}
	c.binHeaderOut(req, status, 0, 0, uint32(len(msg)), 0)
	c.out = append(c.out, msg...)
}
