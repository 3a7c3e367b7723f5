package cached

import (
	"strconv"

	"github.com/cachectl/cachectl/cached/protocol"
)

// metaDebug is me <key> [b]: what the store knows of one item, in
// memcached's key=value form.
func (c *conn) metaDebug(toks [][]byte, _ []byte) error {
	if len(toks) < 2 || len(toks[1]) > protocol.KeyMaxLength {
		return c.metaError(protocol.ErrBadFormat)
	}
	key := toks[1]
	if len(toks) >= 3 && string(toks[2]) == "b" {
		if key = protocol.DecodeKey(key); key == nil {
			return c.metaError(protocol.ErrBadFormat)
		}
	}
	c.srv.metaCmds.Add(1)
	v := c.srv.store.OpenView(key)
	defer v.Close()
	if !v.Found() {
		c.out = append(c.out, protocol.MetaMiss+"\r\n"...)
		return nil
	}
	c.out = append(c.out, protocol.MetaDebug...)
	if v.KeyBinary() {
		c.out = protocol.AppendBase64(c.out, v.Key())
	} else {
		c.out = append(c.out, v.Key()...)
	}
	c.out = append(c.out, " exp="...)
	if v.Exp() == 0 {
		c.out = append(c.out, "-1"...)
	} else {
		c.out = strconv.AppendInt(c.out, int64(int32(v.Now()-v.Exp())), 10)
	}
	c.out = append(c.out, " la="...)
	c.out = strconv.AppendUint(c.out, uint64(v.Idle()), 10)
	c.out = append(c.out, " cas="...)
	c.out = strconv.AppendUint(c.out, v.CAS(), 10)
	if v.Fetched() {
		c.out = append(c.out, " fetch=yes"...)
	} else {
		c.out = append(c.out, " fetch=no"...)
	}
	c.out = append(c.out, " cls="...)
	c.out = strconv.AppendUint(c.out, uint64(v.Class()), 10)
	c.out = append(c.out, " size="...)
	c.out = strconv.AppendUint(c.out, v.Size(), 10)
	c.out = append(c.out, '\r', '\n')
	return nil
}
