package cached

import "bytes"

// binStat serves the binary Stat command: the key names the group, each
// statistic is one response packet (key = name, value = value), and an
// empty packet ends the list, as in memcached. The groups reuse the text
// builders, so both protocols report the same names and values.
func (c *conn) binStat(req *binRequest, key []byte) {
	// memcached matches these three by prefix.
	switch {
	case len(key) == 0:
		c.binStats(req, c.statsGeneral)
		return
	case bytes.HasPrefix(key, []byte("reset")):
		c.srv.resetStats()
		c.binStats(req, func() {})
		return
	case bytes.HasPrefix(key, []byte("settings")):
		c.binStats(req, c.statsSettings)
		return
	case bytes.HasPrefix(key, []byte("detail")):
		c.binStatDetail(req, key[len("detail"):])
		return
	}
	switch string(key) {
	case "items":
		c.binStats(req, c.statsItems)
	case "slabs":
		c.binStats(req, c.statsSlabs)
	case "sizes":
		c.binStats(req, func() { c.stat("sizes_status", "disabled") })
	default:
		c.binError(req, statusNotFound, "")
	}
}

func (c *conn) binStatDetail(req *binRequest, arg []byte) {
	switch {
	case bytes.HasPrefix(arg, []byte(" dump")):
		// The dump holds CRLFs, so it cannot pass through a text builder.
		c.binStatPacket(req, []byte("detailed"), []byte("END\r\n"))
		c.binHeaderOut(req, statusOK, 0, 0, 0, 0)
	case bytes.HasPrefix(arg, []byte(" on")):
		c.srv.detail.Store(true)
		c.binStats(req, func() {})
	case bytes.HasPrefix(arg, []byte(" off")):
		c.srv.detail.Store(false)
		c.binStats(req, func() {})
	default:
		c.binError(req, statusNotFound, "")
	}
}

// binStats runs a text stats builder and re-frames each "STAT name value"
// line it produced as a binary packet, then adds the terminator.
func (c *conn) binStats(req *binRequest, build func()) {
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
	c.binHeaderOut(req, statusOK, 0, 0, 0, 0)
}

func (c *conn) binStatPacket(req *binRequest, name, value []byte) {
	c.binHeaderOut(req, statusOK, 0, uint16(len(name)), uint32(len(name)+len(value)), 0)
	c.out = append(c.out, name...)
	c.out = append(c.out, value...)
}
