package cached

import (
	"fmt"
	"net"
	"sort"
	"syscall"

	"github.com/cachectl/cachectl/cached/protocol"
)

// statsConns lists the listeners and every client, memcached style.
func (c *conn) statsConns() {
	s := c.srv
	now := s.store.Now()
	type row struct {
		id                  int
		addr, listen, state string
		idle                uint32
		udp                 bool
	}
	var rows []row
	for _, ln := range s.listeners {
		rows = append(rows, row{id: listenerFD(ln), addr: connAddr(ln.Addr()), state: "conn_listening"})
	}
	s.mu.Lock()
	for _, pc := range s.udpWorkers {
		r := row{id: listenerFD(pc), addr: udpAddrText(pc.LocalAddr().(*net.UDPAddr).AddrPort()), state: "conn_read", udp: true}
		if r.id == c.id && c.socketless() {
			// The worker answering this request, as memcached shows it.
			r.addr, r.listen, r.state = c.remoteName(), c.local, stateParseCmd.String()
		}
		rows = append(rows, r)
	}
	for o := range s.conns {
		st := connState(o.state.Load())
		if o == c {
			st = stateParseCmd
		}
		rows = append(rows, row{id: o.id, addr: o.remoteName(), listen: o.local, state: st.String(), idle: now - o.lastCmd.Load()})
	}
	s.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].id < rows[j].id })
	for _, r := range rows {
		if r.udp {
			c.classStat("", r.id, "UDP", "UDP")
		}
		c.classStat("", r.id, "addr", r.addr)
		if r.listen != "" {
			c.classStat("", r.id, "listen_addr", r.listen)
		}
		c.classStat("", r.id, "state", r.state)
		c.classStat("", r.id, "secs_since_last_cmd", r.idle)
	}
}

func listenerFD(ln any) int {
	if sc, ok := ln.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			fd := 0
			raw.Control(func(f uintptr) { fd = int(f) })
			return fd
		}
	}
	return 0
}

// cachedump is stats cachedump <class> <limit>: the keys of one class.
func (c *conn) cachedump(toks [][]byte) {
	if c.srv.cfg.DisableDumping {
		c.reply(protocol.ReplyCachedumpNotAllowed)
		return
	}
	id, limit, err := protocol.ParseCachedump(toks)
	if err != nil {
		c.refuse(false, err)
		return
	}
	const maxDump = 2 << 20 // memcached caps a dump at 2 MB
	start := len(c.out)
	c.srv.store.Dump(int(id), int(limit), func(key []byte, nbytes uint32, exp int64) {
		if len(c.out)-start > maxDump {
			return
		}
		c.out = fmt.Appendf(c.out, "ITEM %s [%d b; %d s]\r\n", key, nbytes, exp)
	})
	c.endList()
}
