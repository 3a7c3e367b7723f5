package cached

import (
	"fmt"
	"strconv"

	"github.com/cachectl/cachectl/cached/protocol"
)

// The stats family. Key names and order follow memcached 1.6.18 so that
// monitoring that parses them keeps working; values come from this
// daemon's real state. Each group has a builder that writes STAT lines;
// the binary Stat command re-frames the same lines.

// statsGroup is one `stats <name>` subcommand.
type statsGroup struct {
	name string
	run  func(c *conn, toks [][]byte)
}

// statsGroups is every stats subcommand served. Adding one is an entry
// here and its handler.
var statsGroups = []statsGroup{
	{"reset", (*conn).statsReset},
	{"settings", listing((*conn).statsSettings)},
	{"items", listing((*conn).statsItems)},
	{"slabs", listing((*conn).statsSlabs)},
	{"sizes", listing((*conn).statsSizes)},
	{"sizes_enable", func(c *conn, _ [][]byte) { c.statsSizesEnable() }},
	{"sizes_disable", func(c *conn, _ [][]byte) { c.statsSizesDisable() }},
	{"conns", listing((*conn).statsConns)},
	{"detail", (*conn).statsDetail},
	{"cachedump", (*conn).cachedump},
	{"denied", listing((*conn).statsDenied)},
	{"cachectl", listing((*conn).statsCachectl)},
	{"peer", (*conn).statsPeer},
}

// listing runs a builder and ends its list.
func listing(build func(c *conn)) func(c *conn, toks [][]byte) {
	return func(c *conn, _ [][]byte) {
		build(c)
		c.endList()
	}
}

// stats answers the stats family.
func (c *conn) stats(toks [][]byte, _ []byte) error {
	if len(toks) == 1 {
		c.statsGeneral()
		c.endList()
		return nil
	}
	for _, g := range statsGroups {
		if g.name == string(toks[1]) {
			g.run(c, toks)
			return nil
		}
	}
	c.reply(protocol.ReplyError)
	return nil
}

func (c *conn) endList() { c.out = append(c.out, protocol.ReplyEnd+"\r\n"...) }

func (c *conn) statsReset([][]byte) {
	c.srv.resetStats()
	c.reply(protocol.ReplyReset)
}

// statsSizes is the item size histogram (store/sizes.go), one line per
// non-empty 32-byte bucket.
func (c *conn) statsSizes() {
	buckets, on := c.srv.store.Sizes()
	if !on {
		c.stat("sizes_status", "disabled")
		return
	}
	for _, b := range buckets {
		c.stat(strconv.FormatUint(b.Size, 10), b.Count)
	}
}

// statsSizesEnable and statsSizesDisable answer without an END line, as
// memcached 1.6.18 does.
func (c *conn) statsSizesEnable() {
	if !c.srv.store.EnableSizes() {
		c.stat("sizes_status", "error")
		c.stat("sizes_error", "cas_support_disabled")
		return
	}
	c.stat("sizes_status", "enabled")
}

func (c *conn) statsSizesDisable() {
	c.srv.store.DisableSizes()
	c.stat("sizes_status", "disabled")
}

func (c *conn) stat(name string, value any) {
	c.out = append(c.out, protocol.ReplyStat...)
	c.out = append(c.out, name...)
	c.out = append(c.out, ' ')
	switch v := value.(type) {
	case string:
		c.out = append(c.out, v...)
	case int:
		c.out = strconv.AppendInt(c.out, int64(v), 10)
	case int64:
		c.out = strconv.AppendInt(c.out, v, 10)
	case uint32:
		c.out = strconv.AppendUint(c.out, uint64(v), 10)
	case uint64:
		c.out = strconv.AppendUint(c.out, v, 10)
	case bool:
		c.out = append(c.out, yesNo(v)...)
	default:
		c.out = fmt.Append(c.out, v)
	}
	c.out = append(c.out, '\r', '\n')
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// resetStats is `stats reset`: counters restart, items stay.
func (s *Server) resetStats() {
	s.store.ResetStats()
	s.totalConns.Store(0)
	s.rejected.Store(0)
	s.denied.Store(0)
	s.deniedPeers.reset()
	for i := range s.locals {
		s.locals[i].bytesRead.Store(0)
		s.locals[i].bytesWritten.Store(0)
	}
	s.auth.cmds.Store(0)
	s.auth.errors.Store(0)
	s.yields.Store(0)
	s.prefixes.reset()
	s.logs.resetStats()
	s.respOOM.Store(0)
	s.readBufs.oom.Store(0)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
