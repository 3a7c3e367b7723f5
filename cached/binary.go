package cached

import "github.com/cachectl/cachectl/cached/protocol"

// The binary protocol, packet for packet as memcached 1.6.18's proto_bin.c
// serves it, quirks included: clients (libmemcached, PHP's session handler)
// were written against that server, not against the protocol document.
//
// The header, extras and key are parsed in place in the input buffer (at
// most 24+255+65535 bytes, so the buffer stays bounded); a value is read
// straight into item memory, and a value that cannot be stored is
// discarded in buffer-sized chunks, so a header claiming a huge body never
// makes the daemon allocate it.

// binaryHandler runs one binary command whose lengths protocol.CheckBinary
// accepted.
type binaryHandler func(c *conn, req *protocol.BinaryRequest, extras, key []byte) error

// binaryCommands is every opcode served, by its loud form. Adding one is
// an entry here (and its shape in protocol) and its handler.
var binaryCommands = [256]binaryHandler{
	protocol.OpGet:       (*conn).binGet,
	protocol.OpGetK:      (*conn).binGet,
	protocol.OpTouch:     (*conn).binGet,
	protocol.OpGAT:       (*conn).binGet,
	protocol.OpGATK:      (*conn).binGet,
	protocol.OpSet:       (*conn).binUpdate,
	protocol.OpAdd:       (*conn).binUpdate,
	protocol.OpReplace:   (*conn).binUpdate,
	protocol.OpAppend:    (*conn).binAppend,
	protocol.OpPrepend:   (*conn).binAppend,
	protocol.OpDelete:    (*conn).binDelete,
	protocol.OpIncrement: (*conn).binArith,
	protocol.OpDecrement: (*conn).binArith,
	protocol.OpFlush:     (*conn).binFlush,
	protocol.OpStat:      (*conn).binStat,
	protocol.OpVersion:   (*conn).binVersion,
	protocol.OpNoop:      (*conn).binNoop,
	protocol.OpQuit:      (*conn).binQuit,
	protocol.OpSASLList:  (*conn).binSASLList,
	protocol.OpSASLAuth:  (*conn).binSASLAuth,
	protocol.OpSASLStep:  (*conn).binSASLAuth,
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
			c.binary = c.in[c.r] == protocol.MagicRequest
		}
		c.negotiated = true
	}
	return c.binary
}

// processBinary executes every complete request header in the buffer.
func (c *conn) processBinary() error {
	for !c.closing && !c.yield() {
		req, extras, key, n, err := protocol.ParseBinary(c.in[c.r:c.w])
		if err != nil || n == 0 {
			return err
		}
		c.binReq = req
		c.r += n
		c.startRequest()
		if c.srv.verbosity.Load() > 1 {
			c.srv.log.Debug("binary request", "conn", c.id, "opcode", c.binReq.Opcode, "key", string(key), "bodylen", c.binReq.BodyLen)
		}
		if err := c.dispatchBinary(&c.binReq, extras, key); err != nil {
			return err
		}
		if err := c.flushIfFull(); err != nil {
			return err
		}
	}
	return nil
}

// dispatchBinary validates a request as memcached does and runs it. A
// malformed request is answered and the connection closed after the reply.
func (c *conn) dispatchBinary(req *protocol.BinaryRequest, extras, key []byte) error {
	if !c.auth.ok && c.srv.auth.sasl && !protocol.SASLExempt(req) {
		// memcached refuses and hangs up before it looks further.
		c.binError(req, protocol.StatusAuthError, "")
		c.closing = true
		return nil
	}
	if err := protocol.CheckBinary(req); err != nil {
		be := err.(*protocol.BinaryError)
		c.binError(req, be.Status, "")
		if be.Status == protocol.StatusInvalid && c.srv.verbosity.Load() > 0 {
			c.srv.log.Info("binary protocol error, closing connection", "conn", c.id, "opcode", req.Opcode)
		}
		c.closing = be.Close
		return nil
	}
	run := binaryCommands[req.Cmd]
	if run == nil {
		// memcached swallows bodylen more bytes although extras and key
		// were already consumed; clients only send bodyless unknown
		// opcodes (or ones whose body is all value), where that is exact.
		c.binError(req, protocol.StatusUnknownCmd, "")
		return c.swallow(int64(req.BodyLen))
	}
	return run(c, req, extras, key)
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
func (c *conn) binHeaderOut(req *protocol.BinaryRequest, status uint16, extlen uint8, keylen uint16, bodylen uint32, cas uint64) {
	c.out = protocol.AppendBinaryHeader(c.out, req, status, extlen, keylen, bodylen, cas)
}

// binResponse is a successful reply; quiet commands send none.
func (c *conn) binResponse(req *protocol.BinaryRequest, cas uint64, extras, key, value []byte) {
	if req.Quiet {
		return
	}
	c.binHeaderOut(req, protocol.StatusOK, uint8(len(extras)), uint16(len(key)), uint32(len(extras)+len(key)+len(value)), cas)
	c.out = append(c.out, extras...)
	c.out = append(c.out, key...)
	c.out = append(c.out, value...)
}

// binError is an error reply, sent even for quiet commands; msg "" is the
// status's standard text.
func (c *conn) binError(req *protocol.BinaryRequest, status uint16, msg string) {
	if msg == "" {
		msg = protocol.StatusText(status)
	}
	c.binHeaderOut(req, status, 0, 0, uint32(len(msg)), 0)
	c.out = append(c.out, msg...)
}
