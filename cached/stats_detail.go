package cached

import (
	"bytes"
	"slices"
	"strconv"
	"sync"

	"github.com/cachectl/cachectl/cached/protocol"
)

// Per-prefix statistics (`stats detail on|off|dump`, -D), as memcached's
// stats_prefix.c keeps them: a key's prefix is what precedes the first
// delimiter, and keys without one are not counted. Only the classic text
// commands and the binary protocol record them; meta commands do not.
// Recording costs one atomic load while detail is off.

// DefaultPrefixDelimiter is memcached's -D default.
const DefaultPrefixDelimiter = ':'

// prefixCounts are one prefix's counters.
type prefixCounts struct{ gets, hits, sets, deletes uint64 }

// prefixStats holds the counters of every prefix seen since the last
// `stats reset`.
type prefixStats struct {
	delim byte
	mu    sync.Mutex
	m     map[string]*prefixCounts
}

func newPrefixStats(delim byte) *prefixStats {
	if delim == 0 {
		delim = DefaultPrefixDelimiter
	}
	return &prefixStats{delim: delim, m: map[string]*prefixCounts{}}
}

// counts finds (or starts) the counters of key's prefix, nil for a key
// without the delimiter; a NUL ends the search as it ends memcached's
// C string (p.mu held).
func (p *prefixStats) counts(key []byte) *prefixCounts {
	n := bytes.IndexByte(key, p.delim)
	if n < 0 || bytes.IndexByte(key[:n], 0) >= 0 {
		return nil
	}
	if pc := p.m[string(key[:n])]; pc != nil {
		return pc
	}
	pc := &prefixCounts{}
	p.m[string(key[:n])] = pc
	return pc
}

func (p *prefixStats) recordGet(key []byte, hit bool) {
	p.mu.Lock()
	if pc := p.counts(key); pc != nil {
		pc.gets++
		if hit {
			pc.hits++
		}
	}
	p.mu.Unlock()
}

func (p *prefixStats) recordSet(key []byte) {
	p.mu.Lock()
	if pc := p.counts(key); pc != nil {
		pc.sets++
	}
	p.mu.Unlock()
}

func (p *prefixStats) recordDelete(key []byte) {
	p.mu.Lock()
	if pc := p.counts(key); pc != nil {
		pc.deletes++
	}
	p.mu.Unlock()
}

func (p *prefixStats) reset() {
	p.mu.Lock()
	clear(p.m)
	p.mu.Unlock()
}

// appendDump writes memcached's PREFIX lines and END. memcached lists them
// in its hash table's order; here they are sorted, so dumps compare.
func (p *prefixStats) appendDump(dst []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, 0, len(p.m))
	for name := range p.m {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		pc := p.m[name]
		dst = append(dst, protocol.ReplyPrefix...)
		dst = append(dst, name...)
		dst = append(dst, " get "...)
		dst = strconv.AppendUint(dst, pc.gets, 10)
		dst = append(dst, " hit "...)
		dst = strconv.AppendUint(dst, pc.hits, 10)
		dst = append(dst, " set "...)
		dst = strconv.AppendUint(dst, pc.sets, 10)
		dst = append(dst, " del "...)
		dst = strconv.AppendUint(dst, pc.deletes, 10)
		dst = append(dst, '\r', '\n')
	}
	return append(dst, protocol.ReplyEnd+"\r\n"...)
}

// The recording hooks the command handlers call.

func (c *conn) detailGet(key []byte, hit bool) {
	if c.srv.detail.Load() {
		c.srv.prefixes.recordGet(key, hit)
	}
}

func (c *conn) detailSet(key []byte) {
	if c.srv.detail.Load() {
		c.srv.prefixes.recordSet(key)
	}
}

func (c *conn) detailDelete(key []byte) {
	if c.srv.detail.Load() {
		c.srv.prefixes.recordDelete(key)
	}
}

// statsDetail is stats detail on|off|dump.
func (c *conn) statsDetail(toks [][]byte) {
	switch {
	case len(toks) < 3:
		c.reply(protocol.ReplyDetailUsage)
	case string(toks[2]) == "on", string(toks[2]) == "off":
		c.srv.detail.Store(string(toks[2]) == "on")
		c.reply(protocol.ReplyOK)
	case string(toks[2]) == "dump":
		c.out = c.srv.prefixes.appendDump(c.out)
	default:
		c.reply(protocol.ReplyDetailUsage)
	}
}
