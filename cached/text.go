package cached

import (
	"bytes"
	"strconv"

	"github.com/cachectl/cachectl/cached/store"
)

// The text protocol, reply for reply as memcached 1.6.18's proto_text.c.
// Token counts below follow memcached's convention of counting the
// terminal token, so "set k 0 0 5" has ntokens = 6.

const (
	maxTokens    = 24  // memcached's MAX_TOKENS
	keyMaxLength = 250 // memcached's KEY_MAX_LENGTH
)

// tokenize splits a line on spaces into at most maxTokens-1 tokens; rest is
// the unparsed remainder of a longer line (multi-get continues with it).
func (c *conn) tokenize(line []byte) (toks [][]byte, rest []byte) {
	toks = c.tokens[:0]
	for len(line) > 0 {
		if line[0] == ' ' {
			line = line[1:]
			continue
		}
		if len(toks) == maxTokens-1 {
			return toks, line
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		toks = append(toks, line[:end])
		line = line[end:]
	}
	return toks, nil
}

func (c *conn) dispatch(line []byte) error {
	c.noreply = false
	if c.srv.verbosity.Load() > 1 {
		c.srv.log.Debug("request", "conn", c.id, "line", string(line))
	}
	toks, rest := c.tokenize(line)
	ntokens := len(toks) + 1
	if ntokens < 2 || len(toks[0]) < 2 {
		c.reply("ERROR")
		return nil
	}
	cmd := toks[0]
	switch string(cmd) {
	case "get", "bget":
		if ntokens < 3 {
			c.reply("ERROR")
			return nil
		}
		c.get(toks[1:], rest, false, false, 0)
	case "gets":
		if ntokens < 3 {
			c.reply("ERROR")
			return nil
		}
		c.get(toks[1:], rest, true, false, 0)
	case "gat", "gats":
		if ntokens < 3 {
			c.reply("ERROR")
			return nil
		}
		exp, ok := parseInt32(toks[1])
		if !ok {
			c.reply("CLIENT_ERROR invalid exptime argument")
			return nil
		}
		c.get(toks[2:], rest, string(cmd) == "gats", true, c.srv.store.RelTime(positiveExp(exp)))
	case "set", "add", "replace", "append", "prepend":
		if ntokens != 6 && ntokens != 7 {
			c.reply("ERROR")
			return nil
		}
		return c.update(toks, modeOf(cmd), false)
	case "cas":
		if ntokens != 7 && ntokens != 8 {
			c.reply("ERROR")
			return nil
		}
		return c.update(toks, store.ModeCAS, true)
	case "delete":
		if ntokens < 3 || ntokens > 5 {
			c.reply("ERROR")
			return nil
		}
		c.delete(toks)
	case "incr", "decr":
		if ntokens != 4 && ntokens != 5 {
			c.reply("ERROR")
			return nil
		}
		c.arithmetic(toks, cmd[0] == 'i')
	case "touch":
		if ntokens != 4 && ntokens != 5 {
			c.reply("ERROR")
			return nil
		}
		c.touch(toks)
	case "stats":
		c.stats(toks)
	case "flush_all":
		if ntokens < 2 || ntokens > 4 {
			c.reply("ERROR")
			return nil
		}
		c.flushAll(toks)
	case "version":
		c.reply("VERSION " + ProtocolVersion)
	case "quit":
		c.closing = true
	case "verbosity":
		if ntokens != 3 && ntokens != 4 {
			c.reply("ERROR")
			return nil
		}
		c.verbosity(toks)
	case "cache_memlimit":
		if ntokens != 3 && ntokens != 4 {
			c.reply("ERROR")
			return nil
		}
		c.memlimit(toks)
	case "shutdown":
		c.shutdown(toks)
	case "mg", "ms", "md", "ma", "me", "mn":
		return c.metaCommand(cmd[1], toks)
	default:
		// A stray HTTP request is dropped without a word, as memcached
		// does for lines it does not route by their first letter.
		routed := bytes.IndexByte([]byte("gsacidt"), cmd[0]) >= 0 || (cmd[0] == 'm' && len(cmd) == 2)
		if !routed && bytes.HasPrefix(toks[len(toks)-1], []byte("HTTP/")) {
			c.closing = true
			return nil
		}
		c.reply("ERROR")
	}
	return nil
}

func modeOf(cmd []byte) store.Mode {
	switch string(cmd) {
	case "add":
		return store.ModeAdd
	case "replace":
		return store.ModeReplace
	case "append":
		return store.ModeAppend
	case "prepend":
		return store.ModePrepend
	}
	return store.ModeSet
}

// setNoreply is memcached's set_noreply_maybe: the last token decides.
func (c *conn) setNoreply(toks [][]byte) bool {
	if len(toks) > 0 && string(toks[len(toks)-1]) == "noreply" {
		c.noreply = true
	}
	return c.noreply
}

// positiveExp is memcached's EXPTIME_TO_POSITIVE_TIME: a negative expiry
// becomes an absolute time long past, so the item is expired at once.
func positiveExp(exp int32) int64 {
	if exp < 0 {
		return 60*60*24*30 + 1
	}
	return int64(exp)
}

// get answers get/gets/gat/gats for keys, continuing into rest for lines
// with more keys than one tokenization holds.
func (c *conn) get(keys [][]byte, rest []byte, withCAS, touch bool, exp uint32) {
	start := len(c.out)
	st := c.srv.store
	for {
		for _, key := range keys {
			if len(key) > keyMaxLength {
				c.out = c.out[:start]
				c.reply("CLIENT_ERROR bad command line format")
				return
			}
			var m store.Meta
			var hit bool
			if touch {
				c.scratch, m, hit = st.GetAndTouch(c.scratch[:0], key, exp)
			} else {
				c.scratch, m, hit = st.Get(c.scratch[:0], key)
			}
			if !hit {
				continue
			}
			c.out = append(c.out, "VALUE "...)
			c.out = append(c.out, key...)
			c.out = append(c.out, ' ')
			c.out = strconv.AppendUint(c.out, uint64(m.Flags), 10)
			c.out = append(c.out, ' ')
			c.out = strconv.AppendUint(c.out, uint64(m.Len), 10)
			if withCAS {
				c.out = append(c.out, ' ')
				c.out = strconv.AppendUint(c.out, m.CAS, 10)
			}
			c.out = append(c.out, '\r', '\n')
			c.out = append(c.out, c.scratch...)
			c.out = append(c.out, '\r', '\n')
			// A multi-get may name a large value thousands of times:
			// send as we go so the reply is never buffered whole
			// (memcached queues item references, not copies).
			if len(c.out) >= flushThreshold {
				if err := c.flush(); err != nil {
					c.closing = true
					return
				}
				start = 0
			}
		}
		if rest == nil {
			break
		}
		keys, rest = c.tokenize(rest)
	}
	if cap(c.scratch) > keepBuffer {
		c.scratch = nil
	}
	c.out = append(c.out, "END\r\n"...)
}

// update handles set/add/replace/append/prepend/cas and their data block.
func (c *conn) update(toks [][]byte, mode store.Mode, withCAS bool) error {
	c.setNoreply(toks)
	key := toks[1]
	if len(key) > keyMaxLength {
		c.reply("CLIENT_ERROR bad command line format")
		return nil
	}
	flags, ok1 := parseUint32(toks[2])
	exp, ok2 := parseInt32(toks[3])
	vlen, ok3 := parseInt32(toks[4])
	if !ok1 || !ok2 || !ok3 {
		c.reply("CLIENT_ERROR bad command line format")
		return nil
	}
	var casIn uint64
	if withCAS {
		v, ok := store.ParseUint64(toks[5])
		if !ok {
			c.reply("CLIENT_ERROR bad command line format")
			return nil
		}
		casIn = v
	}
	if vlen < 0 || vlen > 1<<31-1-2 {
		c.reply("CLIENT_ERROR bad command line format")
		return nil
	}
	st := c.srv.store
	p, err := st.Alloc(key, flags, st.RelTime(positiveExp(exp)), int(vlen))
	if err != nil {
		if err == store.ErrTooLarge {
			c.reply("SERVER_ERROR object too large for cache")
		} else {
			c.reply("SERVER_ERROR out of memory storing object")
		}
		// A failed set must not leave the old value readable, whether it
		// failed for size or for memory (memcached's process_update_command).
		if mode == store.ModeSet {
			st.Unlink(key)
		}
		c.setState(stateSwallow)
		return c.discard(int(vlen) + 2)
	}
	ok, err := c.readValue(p)
	if err != nil {
		st.Abort(p, false)
		return err
	}
	if !ok {
		st.Abort(p, true)
		c.reply("CLIENT_ERROR bad data chunk")
		return nil
	}
	res, _ := st.Commit(p, mode, casIn)
	c.reply(resultText[res])
	return nil
}

var resultText = [...]string{
	store.Stored:    "STORED",
	store.NotStored: "NOT_STORED",
	store.Exists:    "EXISTS",
	store.NotFound:  "NOT_FOUND",
}

func (c *conn) delete(toks [][]byte) {
	ntokens := len(toks) + 1
	if ntokens > 3 {
		holdIsZero := string(toks[2]) == "0"
		noreply := c.setNoreply(toks)
		valid := (ntokens == 4 && (holdIsZero || noreply)) || (ntokens == 5 && holdIsZero && noreply)
		if !valid {
			c.reply("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]")
			return
		}
	}
	key := toks[1]
	if len(key) > keyMaxLength {
		c.reply("CLIENT_ERROR bad command line format")
		return
	}
	if c.srv.store.Delete(key) {
		c.reply("DELETED")
	} else {
		c.reply("NOT_FOUND")
	}
}

func (c *conn) arithmetic(toks [][]byte, incr bool) {
	c.setNoreply(toks)
	key := toks[1]
	if len(key) > keyMaxLength {
		c.reply("CLIENT_ERROR bad command line format")
		return
	}
	delta, ok := store.ParseUint64(toks[2])
	if !ok {
		c.reply("CLIENT_ERROR invalid numeric delta argument")
		return
	}
	v, _, res := c.srv.store.Delta(key, incr, delta)
	switch res {
	case store.DeltaOK:
		if c.noreply {
			c.noreply = false
			return
		}
		c.out = strconv.AppendUint(c.out, v, 10)
		c.out = append(c.out, '\r', '\n')
	case store.DeltaNotFound:
		c.reply("NOT_FOUND")
	case store.DeltaNonNumeric:
		c.reply("CLIENT_ERROR cannot increment or decrement non-numeric value")
	case store.DeltaNoMemory:
		c.reply("SERVER_ERROR out of memory")
	}
}

func (c *conn) touch(toks [][]byte) {
	c.setNoreply(toks)
	key := toks[1]
	if len(key) > keyMaxLength {
		c.reply("CLIENT_ERROR bad command line format")
		return
	}
	exp, ok := parseInt32(toks[2])
	if !ok {
		c.reply("CLIENT_ERROR invalid exptime argument")
		return
	}
	st := c.srv.store
	if st.Touch(key, st.RelTime(positiveExp(exp))) {
		c.reply("TOUCHED")
	} else {
		c.reply("NOT_FOUND")
	}
}

func (c *conn) flushAll(toks [][]byte) {
	c.setNoreply(toks)
	if !c.srv.cfg.FlushEnabled {
		c.srv.store.CountFlush()
		c.reply("CLIENT_ERROR flush_all not allowed")
		return
	}
	var delay int32
	want := 2
	if c.noreply {
		want = 3
	}
	if len(toks)+1 != want {
		v, ok := parseInt32(toks[1])
		if !ok {
			c.srv.store.CountFlush()
			c.reply("CLIENT_ERROR invalid exptime argument")
			return
		}
		delay = v
	}
	c.srv.store.FlushAll(int64(delay))
	c.reply("OK")
}

func (c *conn) verbosity(toks [][]byte) {
	c.setNoreply(toks)
	level, ok := parseUint32(toks[1])
	if !ok {
		c.reply("CLIENT_ERROR bad command line format")
		return
	}
	c.srv.SetVerbosity(int(min(level, maxVerbosity)))
	c.reply("OK")
}

func (c *conn) memlimit(toks [][]byte) {
	c.setNoreply(toks)
	mb, ok := parseUint32(toks[1])
	switch {
	case !ok:
		c.reply("ERROR")
	case mb < 8:
		c.reply("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m")
	case mb > 1000000000:
		c.reply("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes")
	case !c.srv.store.SetMemoryLimit(uint64(mb) << 20):
		c.reply("MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust")
	default:
		c.reply("OK")
	}
}

func (c *conn) shutdown(toks [][]byte) {
	if !c.srv.cfg.EnableShutdown {
		c.reply("ERROR: shutdown not enabled")
		return
	}
	switch {
	case len(toks) == 1, len(toks) == 2 && string(toks[1]) == "graceful":
		c.closing = true
		c.srv.requestShutdown()
	default:
		c.reply("CLIENT_ERROR invalid shutdown mode")
	}
}

// Numbers are parsed as memcached's safe_strto* helpers do, quirks
// included, because clients and tests rely on the exact replies.

// parseInt32 is safe_strtol: a 64-bit strtol truncated to 32 bits.
func parseInt32(b []byte) (int32, bool) {
	v, ok := store.ParseInt64(b)
	return int32(v), ok
}

// parseUint32 is safe_strtoul: a 64-bit strtoul truncated to 32 bits, so
// 4294967296 is accepted as 0, as in memcached 1.6.18.
func parseUint32(b []byte) (uint32, bool) {
	v, ok := store.ParseUint64(b)
	return uint32(v), ok
}
