package cached

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// deniedPeers remembers, for the most recent distinct peers the allowlist
// closed, how many of their connections it closed and when last, so that
// `stats denied` and `stats peer ADDR` can say per peer what
// denied_connections only counts in total. It is bounded: when full, the
// peer refused longest ago makes room, so a scan from many addresses
// costs a fixed amount of memory.
type deniedPeers struct {
	mu    sync.Mutex
	peers map[netip.Addr]deniedCount
}

type deniedCount struct {
	count uint64
	last  time.Time
}

// deniedPeersMax bounds the table; a refusal is rare next to a request, so
// evicting by a scan of this many entries is cheap.
const deniedPeersMax = 256

// countDenied books a connection the allowlist refused, at accept or
// when a new allowlist drops it: in denied_connections and per peer.
func (s *Server) countDenied(peer netip.Addr) {
	s.denied.Add(1)
	s.deniedPeers.record(peer, time.Now())
}

func (d *deniedPeers) record(peer netip.Addr, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.peers == nil {
		d.peers = map[netip.Addr]deniedCount{}
	}
	e, ok := d.peers[peer]
	if !ok && len(d.peers) >= deniedPeersMax {
		var oldest netip.Addr
		for a, c := range d.peers {
			if !oldest.IsValid() || c.last.Before(d.peers[oldest].last) {
				oldest = a
			}
		}
		delete(d.peers, oldest)
	}
	d.peers[peer] = deniedCount{count: e.count + 1, last: now}
}

func (d *deniedPeers) get(peer netip.Addr) deniedCount {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peers[peer]
}

func (d *deniedPeers) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.peers = nil
}

// statsDenied is the body of `stats denied` (the caller ends the list):
// one line per peer, most recent first,
// "STAT denied:<addr> <count> <last refusal, unix time>".
func (c *conn) statsDenied() {
	d := &c.srv.deniedPeers
	d.mu.Lock()
	addrs := make([]netip.Addr, 0, len(d.peers))
	for a := range d.peers {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int {
		if x, y := d.peers[a].last, d.peers[b].last; !x.Equal(y) {
			return y.Compare(x)
		}
		return a.Compare(b)
	})
	for _, a := range addrs {
		e := d.peers[a]
		c.stat("denied:"+a.String(), strconv.FormatUint(e.count, 10)+" "+strconv.FormatInt(e.last.Unix(), 10))
	}
	d.mu.Unlock()
}

// statsPeer is `stats peer ADDR`: whether the allowlist in force admits
// the address, by which entry, and its refusals. It lets a tool ask the
// running daemon rather than guess from a policy file the daemon may not
// have reloaded.
func (c *conn) statsPeer(toks [][]byte) {
	if len(toks) != 3 {
		c.reply("CLIENT_ERROR usage: stats peer ADDR")
		return
	}
	peer, err := netip.ParseAddr(string(toks[2]))
	if err != nil {
		c.reply("CLIENT_ERROR bad peer address")
		return
	}
	peer = peer.Unmap().WithZone("")
	entry, admitted := "", true
	f := c.srv.filter.Load()
	if f != nil {
		entry, admitted = (*f)(peer)
	}
	e := c.srv.deniedPeers.get(peer)
	c.stat("peer", peer.String())
	c.stat("allowlist", f != nil)
	c.stat("admitted", admitted)
	if admitted && entry != "" {
		c.stat("entry", entry)
	}
	c.stat("denied", e.count)
	var last int64
	if e.count > 0 {
		last = e.last.Unix()
	}
	c.stat("last_denied", last)
	c.out = append(c.out, "END\r\n"...)
}
