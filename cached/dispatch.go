package cached

import (
	"fmt"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/store"
)

// textCommand is one command of the text protocol (classic and meta): its
// name, how many arguments it takes (memcached answers ERROR otherwise),
// and its handler. run receives the line's tokens, the command name
// first, and the rest of a line longer than one tokenization holds.
type textCommand struct {
	name             string
	minArgs, maxArgs int // maxArgs -1: no limit
	run              func(c *conn, toks [][]byte, rest []byte) error
}

// textCommands is every command the text protocol serves. Adding one is
// an entry here and its handler.
var textCommands = []textCommand{
	{"get", 1, -1, func(c *conn, t [][]byte, rest []byte) error { return c.get(t[1:], rest, false, false, 0) }},
	{"bget", 1, -1, func(c *conn, t [][]byte, rest []byte) error { return c.get(t[1:], rest, false, false, 0) }},
	{"gets", 1, -1, func(c *conn, t [][]byte, rest []byte) error { return c.get(t[1:], rest, true, false, 0) }},
	{"gat", 1, -1, func(c *conn, t [][]byte, rest []byte) error { return c.getAndTouch(t, rest, false) }},
	{"gats", 1, -1, func(c *conn, t [][]byte, rest []byte) error { return c.getAndTouch(t, rest, true) }},
	{"set", 4, 5, func(c *conn, t [][]byte, _ []byte) error { return c.update(t, store.ModeSet, false) }},
	{"add", 4, 5, func(c *conn, t [][]byte, _ []byte) error { return c.update(t, store.ModeAdd, false) }},
	{"replace", 4, 5, func(c *conn, t [][]byte, _ []byte) error { return c.update(t, store.ModeReplace, false) }},
	{"append", 4, 5, func(c *conn, t [][]byte, _ []byte) error { return c.update(t, store.ModeAppend, false) }},
	{"prepend", 4, 5, func(c *conn, t [][]byte, _ []byte) error { return c.update(t, store.ModePrepend, false) }},
	{"cas", 5, 6, func(c *conn, t [][]byte, _ []byte) error { return c.update(t, store.ModeCAS, true) }},
	{"delete", 1, 3, (*conn).delete},
	{"incr", 2, 3, func(c *conn, t [][]byte, _ []byte) error { return c.arithmetic(t, true) }},
	{"decr", 2, 3, func(c *conn, t [][]byte, _ []byte) error { return c.arithmetic(t, false) }},
	{"touch", 2, 3, (*conn).touch},
	{"stats", 0, -1, (*conn).stats},
	{"flush_all", 0, 2, (*conn).flushAll},
	{"version", 0, -1, (*conn).version},
	{"quit", 0, -1, (*conn).quit},
	{"verbosity", 1, 2, (*conn).verbosity},
	{"cache_memlimit", 1, 2, (*conn).memlimit},
	{"shutdown", 0, -1, (*conn).shutdown},
	{"refresh_certs", 0, -1, (*conn).refreshCerts},
	{"watch", 0, -1, (*conn).watch},
	{"lru_crawler", 0, -1, (*conn).lruCrawler},
	{"slabs", 0, -1, (*conn).slabs},
	{"lru", 1, -1, (*conn).lru},
	{"extstore", 0, -1, (*conn).extstore},
	{"mg", 0, -1, (*conn).metaGet},
	{"ms", 0, -1, (*conn).metaSet},
	{"md", 0, -1, (*conn).metaDelete},
	{"ma", 0, -1, (*conn).metaArithmetic},
	{"me", 0, -1, (*conn).metaDebug},
	{"mn", 0, -1, (*conn).metaNoop},
	{"debugtime", 1, -1, (*conn).debugTime},
}

// textIndex finds a command by its first letter without hashing the name:
// dispatch runs once per request.
var textIndex [256][]*textCommand

func init() {
	for i := range textCommands {
		cmd := &textCommands[i]
		textIndex[cmd.name[0]] = append(textIndex[cmd.name[0]], cmd)
	}
}

func lookupText(name []byte) *textCommand {
	for _, cmd := range textIndex[name[0]] {
		if cmd.name == string(name) {
			return cmd
		}
	}
	return nil
}

// dispatch runs one request line.
func (c *conn) dispatch(line []byte) error {
	c.noreply = false
	if c.srv.verbosity.Load() > 1 {
		c.srv.log.Debug("request", "conn", c.id, "line", string(line))
	}
	toks, rest := protocol.Tokenize(line, c.tokens)
	if len(toks) == 0 || len(toks[0]) < 2 {
		c.reply(protocol.ReplyError)
		return nil
	}
	cmd := lookupText(toks[0])
	switch {
	case cmd == nil && protocol.IsHTTP(toks):
		c.closing = true
		return errHTTP
	case cmd == nil, len(toks)-1 < cmd.minArgs, cmd.maxArgs >= 0 && len(toks)-1 > cmd.maxArgs:
		c.reply(protocol.ReplyError)
		return nil
	}
	return cmd.run(c, toks, rest)
}

// errHTTP closes a connection that spoke HTTP to the cache port; watchers
// see it closed for an error, as memcached reports it.
var errHTTP = fmt.Errorf("%w: an HTTP request on the memcached port", errClose)

// refuse answers a request the protocol refused; noreply silences it, as
// set_noreply_maybe does for memcached's classic commands.
func (c *conn) refuse(noreply bool, err error) error {
	c.noreply = noreply
	if e, ok := err.(*protocol.Error); ok {
		c.reply(e.Reply)
		return nil
	}
	return err
}
