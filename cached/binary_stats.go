package cached

import (
	"bytes"

	"github.com/cachectl/cachectl/cached/protocol"
)

// binStat serves the binary Stat command: the key names the group, each
// statistic is one response packet (key = name, value = value), and an
// empty packet ends the list, as in memcached. The groups reuse the text
// builders, so both protocols report the same names and values.
func (c *conn) binStat(req *protocol.BinaryRequest, _, key []byte) error {
	// memcached matches these three by prefix.
	switch {
	case len(key) == 0:
		c.binStats(req, c.statsGeneral)
		return nil
	case bytes.HasPrefix(key, []byte("reset")):
		c.srv.resetStats()
		c.binStats(req, func() {})
		return nil
	case bytes.HasPrefix(key, []byte("settings")):
		c.binStats(req, c.statsSettings)
		return nil
	case bytes.HasPrefix(key, []byte("detail")):
		c.binStatDetail(req, key[len("detail"):])
		return nil
	}
	switch string(key) {
	case "items":
		c.binStats(req, c.statsItems)
	case "slabs":
		c.binStats(req, c.statsSlabs)
	case "sizes":
		c.binStats(req, c.statsSizes)
	case "sizes_enable":
		// Without a terminator, as memcached sends it.
		c.binStatLines(req, c.statsSizesEnable)
	case "sizes_disable":
		c.binStatLines(req, c.statsSizesDisable)
	case "cachectl":
		c.binStats(req, c.statsCachectl)
	default:
		c.binError(req, protocol.StatusNotFound, "")
	}
	return nil
}

func (c *conn) binStatDetail(req *protocol.BinaryRequest, arg []byte) {
	switch {
	case bytes.HasPrefix(arg, []byte(" dump")):
		// The dump holds CRLFs, so it cannot pass through a text builder.
		c.scratch = c.srv.prefixes.appendDump(c.scratch[:0])
		c.binStatPacket(req, []byte("detailed"), c.scratch)
		c.binHeaderOut(req, protocol.StatusOK, 0, 0, 0, 0)
	case bytes.HasPrefix(arg, []byte(" on")):
		c.srv.detail.Store(true)
		c.binStats(req, func() {})
	case bytes.HasPrefix(arg, []byte(" off")):
		c.srv.detail.Store(false)
		c.binStats(req, func() {})
	default:
		c.binError(req, protocol.StatusNotFound, "")
	}
}

// binStats runs a text stats builder and re-frames each "STAT name value"
// line it produced as a binary packet, then adds the terminator.
func (c *conn) binStats(req *protocol.BinaryRequest, build func()) {
	c.binStatLines(req, build)
	c.binHeaderOut(req, protocol.StatusOK, 0, 0, 0, 0)
}

// binStatLines is binStats without the terminator.
func (c *conn) binStatLines(req *protocol.BinaryRequest, build func()) {
	start := len(c.out)
	build()
	c.scratch = append(c.scratch[:0], c.out[start:]...)
	c.out = c.out[:start]
	text := c.scratch
	for len(text) > 0 {
		end := bytes.Index(text, []byte("\r\n"))
		if end < 0 {
			end = len(text)
		}
		line := text[:end]
		text = text[min(end+2, len(text)):]
		line, ok := bytes.CutPrefix(line, []byte("STAT "))
		if !ok {
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(" "))
		c.binStatPacket(req, name, value)
	}
}

func (c *conn) binStatPacket(req *protocol.BinaryRequest, name, value []byte) {
	c.binHeaderOut(req, protocol.StatusOK, 0, uint16(len(name)), uint32(len(name)+len(value)), 0)
	c.out = append(c.out, name...)
	c.out = append(c.out, value...)
}
