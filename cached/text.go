package cached

import (
	"strconv"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/store"
)

// The classic text commands, reply for reply as memcached 1.6.18's
// proto_text.c. The protocol package reads each line; the handlers here
// run it against the store and write the reply.

// relTime turns an expiry as sent into the store's clock.
func (c *conn) relTime(exp int32) uint32 {
	return c.srv.store.RelTime(protocol.PositiveExp(exp))
}

// getAndTouch is gat and gats: get with a new expiry.
func (c *conn) getAndTouch(toks [][]byte, rest []byte, withCAS bool) error {
	exp, err := protocol.ParseExptime(toks[1])
	if err != nil {
		return c.refuse(false, err)
	}
	return c.get(toks[2:], rest, withCAS, true, c.relTime(exp))
}

// get answers get/gets/gat/gats for keys, continuing into rest for lines
// with more keys than one tokenization holds. Under read_buf_mem_limit a
// get with more keys than response objects looks the first ones up (and
// counts them), as memcached does before it runs out, then is refused.
func (c *conn) get(keys [][]byte, rest []byte, withCAS, touch bool, exp uint32) error {
	budget := c.srv.respLimit
	if budget != noRespLimit {
		// The request took one already; replies stacked before it
		// hold theirs.
		budget -= int(c.resps) - 1
	}
	initial := budget
	over := budget != noRespLimit && len(keys)+fieldCount(rest) > budget
	for {
		for _, key := range keys {
			if over && budget == 0 {
				return c.getOutOfMemory()
			}
			budget--
			if err := protocol.CheckKey(key); err != nil {
				// Keys are checked as they come, as memcached does: the
				// ones before were looked up and counted. Their replies
				// go, and with them those of the commands since the last
				// get, which memcached had not written yet either.
				c.dropUnsent()
				return c.refuse(false, err)
			}
			m, hit := c.lookup(key, over, withCAS, touch, exp)
			c.detailGet(key, hit)
			c.logGet(key, m, hit)
			if !hit || over {
				continue
			}
			// A multi-get may name a large value thousands of times:
			// send as we go so the reply is never buffered whole
			// (memcached queues item references, not copies).
			if c.outFull() {
				if err := c.flush(); err != nil {
					c.closing = true
					return nil
				}
			}
		}
		if rest == nil {
			break
		}
		keys, rest = protocol.Tokenize(rest, c.tokens)
	}
	if cap(c.scratch) > keepBuffer {
		c.scratch = nil
	}
	if initial != noRespLimit {
		c.resps += int32(initial - budget - 1)
	}
	c.out = append(c.out, protocol.ReplyEnd+"\r\n"...)
	c.markSent()
	return nil
}

// getOutOfMemory refuses a get that ran out of response objects. memcached
// drops every reply the connection has not sent yet along with it.
func (c *conn) getOutOfMemory() error {
	c.srv.respOOM.Add(1)
	c.dropUnsent()
	c.reply(protocol.ReplyNoMemoryGet)
	c.resps = 1 // the dropped replies gave theirs back; the error holds one
	return nil
}

// lookup looks one key of a get up. A hit is written to c.out, VALUE line
// and value, in one copy from the store or, for a large value on a plain
// socket, with the value left in the slab to be written from there (see
// conn_views.go); past the response budget (over) the key is only looked
// up and counted, as memcached does.
func (c *conn) lookup(key []byte, over, withCAS, touch bool, exp uint32) (m store.Meta, hit bool) {
	st := c.srv.store
	if over {
		if touch {
			c.scratch, m, hit = st.GetAndTouch(c.scratch[:0], key, exp)
		} else {
			c.scratch, m, hit = st.Get(c.scratch[:0], key)
		}
		return m, hit
	}
	head := func(out []byte, m store.Meta) []byte { return appendValueLine(out, key, m, withCAS) }
	var view []byte
	var ref uint32
	c.out, view, ref, m, hit = st.AppendGetView(c.out, key, touch, exp, c.viewMin(), head)
	if ref != 0 {
		c.addView(view, ref)
	}
	if hit {
		c.out = append(c.out, '\r', '\n')
	}
	return m, hit
}

// appendValueLine appends a get hit's VALUE line.
func appendValueLine(out, key []byte, m store.Meta, withCAS bool) []byte {
	out = append(out, protocol.ReplyValue...)
	out = append(out, key...)
	out = append(out, ' ')
	out = strconv.AppendUint(out, uint64(m.Flags), 10)
	out = append(out, ' ')
	out = strconv.AppendUint(out, uint64(m.Len), 10)
	if withCAS {
		out = append(out, ' ')
		out = strconv.AppendUint(out, m.CAS, 10)
	}
	return append(out, '\r', '\n')
}

// update handles set/add/replace/append/prepend/cas and their data block.
func (c *conn) update(toks [][]byte, mode store.Mode, withCAS bool) error {
	req, err := protocol.ParseStorage(toks, withCAS)
	if err != nil {
		return c.refuse(req.Noreply, err)
	}
	c.noreply = req.Noreply
	c.detailSet(req.Key)
	st := c.srv.store
	exp := c.relTime(req.Exptime)
	p, err := st.Alloc(req.Key, req.Flags, exp, req.Length)
	if err != nil {
		c.logStoreFailed(req.Key, mode, err)
		c.reply(storeFailure(err).Reply)
		// A failed set must not leave the old value readable, whether it
		// failed for size or for memory (memcached's process_update_command).
		if mode == store.ModeSet {
			st.Unlink(req.Key)
		}
		c.setState(stateSwallow)
		return c.discard(req.Length + 2)
	}
	ok, err := c.readValue(p)
	if err != nil {
		st.Abort(p, false)
		return err
	}
	if !ok {
		st.Abort(p, true)
		c.reply(protocol.ReplyBadDataChunk)
		return nil
	}
	c.logLookup(req.Key)
	res, _ := st.Commit(p, mode, req.CAS)
	c.logStore(req.Key, mode, res, exp, p.Class(), req.Length)
	c.reply(resultText[res])
	return nil
}

// storeFailure is the reply to an item the store could not allocate.
func storeFailure(err error) *protocol.Error {
	if err == store.ErrTooLarge {
		return protocol.ErrTooLarge
	}
	return protocol.ErrNoMemoryStore
}

var resultText = [...]string{
	store.Stored:    protocol.ReplyStored,
	store.NotStored: protocol.ReplyNotStored,
	store.Exists:    protocol.ReplyExists,
	store.NotFound:  protocol.ReplyNotFound,
}

func (c *conn) delete(toks [][]byte, _ []byte) error {
	req, err := protocol.ParseDelete(toks)
	if err != nil {
		return c.refuse(req.Noreply, err)
	}
	c.noreply = req.Noreply
	c.detailDelete(req.Key)
	c.logLookup(req.Key)
	if c.srv.store.Delete(req.Key) {
		c.reply(protocol.ReplyDeleted)
	} else {
		c.reply(protocol.ReplyNotFound)
	}
	return nil
}

func (c *conn) arithmetic(toks [][]byte, incr bool) error {
	req, err := protocol.ParseArith(toks)
	if err != nil {
		return c.refuse(req.Noreply, err)
	}
	c.noreply = req.Noreply
	c.logLookup(req.Key)
	v, _, res := c.srv.store.Delta(req.Key, incr, req.Delta)
	switch res {
	case store.DeltaOK:
		if c.noreply {
			c.noreply = false
			return nil
		}
		c.out = strconv.AppendUint(c.out, v, 10)
		c.out = append(c.out, '\r', '\n')
	case store.DeltaNotFound:
		c.reply(protocol.ReplyNotFound)
	case store.DeltaNonNumeric:
		c.reply(protocol.ReplyNonNumeric)
	case store.DeltaNoMemory:
		c.reply(protocol.ReplyNoMemory)
	}
	return nil
}

func (c *conn) touch(toks [][]byte, _ []byte) error {
	req, err := protocol.ParseTouch(toks)
	if err != nil {
		return c.refuse(req.Noreply, err)
	}
	c.noreply = req.Noreply
	c.logLookup(req.Key)
	if c.srv.store.Touch(req.Key, c.relTime(req.Exptime)) {
		c.reply(protocol.ReplyTouched)
	} else {
		c.reply(protocol.ReplyNotFound)
	}
	return nil
}
