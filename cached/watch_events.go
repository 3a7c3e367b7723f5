package cached

import (
	"errors"
	"io"
	"net"
	"net/netip"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/store"
)

// Where requests and connections report to the log streams. Each helper
// returns at once unless someone watches its stream.

// logGet records a read of key (item_get).
func (c *conn) logGet(key []byte, m store.Meta, hit bool) {
	if !c.srv.logs.on(protocol.LogFetchers) {
		return
	}
	e := protocol.LogEntry{Event: protocol.EventItemGet, Key: key, Status: uint8(m.Status), FD: int32(c.id)}
	if hit {
		e.Status, e.Class, e.Size = protocol.GetFound, m.Class, int32(m.Len)
	}
	c.srv.logs.record(c.id, &e)
}

// logLookup records the item_get line memcached writes for the lookup a
// store, delete, incr, decr or touch makes before it changes the item.
func (c *conn) logLookup(key []byte) {
	if !c.srv.logs.on(protocol.LogFetchers) {
		return
	}
	m, hit := c.srv.store.Peek(key)
	c.logGet(key, m, hit)
}

// storeCmd maps a store mode to memcached's command number.
var storeCmd = [...]uint8{
	store.ModeSet: protocol.CmdSet, store.ModeAdd: protocol.CmdAdd, store.ModeReplace: protocol.CmdReplace,
	store.ModeAppend: protocol.CmdAppend, store.ModePrepend: protocol.CmdPrepend, store.ModeCAS: protocol.CmdCAS,
}

var storeStatus = [...]uint8{
	store.Stored: protocol.StoreStored, store.NotStored: protocol.StoreNotStored,
	store.Exists: protocol.StoreExists, store.NotFound: protocol.StoreNotFound,
}

// logStore records a store command's outcome (item_store); exp is the
// item's server-relative expiry, 0 for none.
func (c *conn) logStore(key []byte, mode store.Mode, res store.Result, exp uint32, class uint8, size int) {
	if !c.srv.logs.on(protocol.LogMutations) {
		return
	}
	if res == store.Stored && (mode == store.ModeAppend || mode == store.ModePrepend) {
		// memcached logs the joined item: its length, its expiry.
		v := c.srv.store.OpenView(key)
		if v.Found() {
			exp, class, size = v.Exp(), v.Class(), v.Len()
		}
		v.Close()
	}
	var ttl int64
	if exp != 0 {
		ttl = int64(exp) - int64(c.srv.store.Now())
	}
	c.srv.logs.record(c.id, &protocol.LogEntry{Event: protocol.EventItemStore, Key: key, Status: storeStatus[res],
		Cmd: storeCmd[mode], TTL: ttl, Class: class, FD: int32(c.id), Size: int32(size)})
}

// logStoreFailed records a store refused before its value was read: too
// large, or no memory. memcached prints a stray class and descriptor here
// (its call passes one argument too few); this line carries the real ones.
func (c *conn) logStoreFailed(key []byte, mode store.Mode, err error) {
	if !c.srv.logs.on(protocol.LogMutations) {
		return
	}
	status := uint8(protocol.StoreNoMemory)
	if errors.Is(err, store.ErrTooLarge) {
		status = protocol.StoreTooLarge
	}
	c.srv.logs.record(c.id, &protocol.LogEntry{Event: protocol.EventItemStore, Key: key, Status: status,
		Cmd: storeCmd[mode], FD: int32(c.id)})
}

// logConn records a connection opening or closing (connevents); a peer
// without an address is a unix socket.
func (s *Server) logConn(ev protocol.LogEvent, fd int, peer netip.AddrPort, reason uint8) {
	if !s.logs.on(protocol.LogConnEvents) {
		return
	}
	trans := uint8(protocol.TransportTCP)
	if !peer.IsValid() {
		trans = protocol.TransportLocal
	}
	s.logs.record(fd, &protocol.LogEntry{Event: ev, FD: int32(fd), Peer: peer, Trans: trans, Reason: reason})
}

// closeReason is why a connection ended, as memcached names it: the client
// hung up or quit (normal), idle_timeout, the shutdown command, the
// allowlist (denied, cachectl's), or anything else (error).
func closeReason(c *conn, err error) uint8 {
	switch {
	case c.closeReason != 0:
		return c.closeReason
	case errors.Is(err, errIdle):
		return protocol.ReasonIdleTimeout
	case errors.Is(err, errHTTP):
		return protocol.ReasonError
	case err == nil, errors.Is(err, errClose), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return protocol.ReasonNormal
	}
	return protocol.ReasonError
}

// peerPort is a connection's peer with its port, for connection lines.
func peerPort(nc net.Conn) (netip.AddrPort, bool) {
	ta, ok := nc.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	return ta.AddrPort(), true
}

// logView records an mg lookup.
func (c *conn) logView(v *store.View, key []byte) {
	if !c.srv.logs.on(protocol.LogFetchers) {
		return
	}
	m := store.Meta{Status: v.Status()}
	if v.Found() {
		m.Class, m.Len = v.Class(), v.Len()
	}
	c.logGet(key, m, v.Found())
}

// statsLogger is the log_* group of `stats`.
func (c *conn) statsLogger() {
	l := c.srv.logs
	c.stat("log_worker_dropped", l.dropped.Load())
	c.stat("log_worker_written", l.written.Load())
	c.stat("log_watcher_skipped", l.skipped.Load())
	c.stat("log_watcher_sent", l.sent.Load())
	c.stat("log_watchers", l.count())
}
