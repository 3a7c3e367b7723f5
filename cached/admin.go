package cached

import (
	"strconv"

	"github.com/cachectl/cachectl/cached/protocol"
)

// The text commands that act on the daemon rather than on items.

func (c *conn) version([][]byte, []byte) error {
	c.reply(protocol.ReplyVersion + ProtocolVersion)
	return nil
}

func (c *conn) quit([][]byte, []byte) error {
	c.closing = true
	return nil
}

func (c *conn) flushAll(toks [][]byte, _ []byte) error {
	req, err := protocol.ParseFlushAll(toks)
	c.noreply = req.Noreply
	// A refused flush_all still counts, as in memcached.
	switch {
	case !c.srv.cfg.FlushEnabled:
		c.srv.store.CountFlush()
		c.reply(protocol.ReplyFlushDisabled)
	case err != nil:
		c.srv.store.CountFlush()
		return c.refuse(req.Noreply, err)
	default:
		c.srv.store.FlushAll(int64(req.Exptime))
		c.reply(protocol.ReplyOK)
	}
	return nil
}

func (c *conn) verbosity(toks [][]byte, _ []byte) error {
	req, err := protocol.ParseVerbosity(toks)
	if err != nil {
		return c.refuse(req.Noreply, err)
	}
	c.noreply = req.Noreply
	c.srv.SetVerbosity(int(min(req.Level, maxVerbosity)))
	c.reply(protocol.ReplyOK)
	return nil
}

func (c *conn) memlimit(toks [][]byte, _ []byte) error {
	req, err := protocol.ParseMemlimit(toks)
	if err != nil {
		return c.refuse(req.Noreply, err)
	}
	c.noreply = req.Noreply
	if c.srv.store.SetMemoryLimit(uint64(req.Level) << 20) {
		c.reply(protocol.ReplyOK)
	} else {
		c.reply(protocol.ReplyMemlimitFailed)
	}
	return nil
}

// debugTime is memcached-debug's debugtime: "p" stops the clock, "r"
// starts it again, a number moves it by that many seconds. Expiry tests
// use it to age items without sleeping. It exists only under
// -o relaxed_privileges: on a production cache it would let any client
// expire everything.
func (c *conn) debugTime(toks [][]byte, _ []byte) error {
	if !c.srv.cfg.TestCommands {
		c.reply(protocol.ReplyError)
		return nil
	}
	st := c.srv.store
	ok := true
	switch arg := string(toks[1]); arg {
	case "p":
		ok = st.PauseClock(true)
	case "r":
		ok = st.PauseClock(false)
	default:
		d, err := strconv.ParseInt(arg, 10, 64)
		ok = err == nil && st.ShiftClock(d)
	}
	if !ok {
		c.reply(protocol.ReplyError)
		return nil
	}
	c.reply(protocol.ReplyOK)
	return nil
}

func (c *conn) shutdown(toks [][]byte, _ []byte) error {
	if !c.srv.cfg.EnableShutdown {
		c.reply(protocol.ReplyShutdownDisabled)
		return nil
	}
	if err := protocol.ParseShutdown(toks); err != nil {
		return c.refuse(false, err)
	}
	if len(toks) == 2 {
		// `shutdown graceful` is memcached's SIGUSR1: with -e it saves.
		c.srv.store.PersistOnClose()
	}
	c.closing = true
	c.closeReason = protocol.ReasonShutdown
	c.srv.requestShutdown()
	return nil
}
