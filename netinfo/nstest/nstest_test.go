package nstest

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestStarConnects(t *testing.T) {
	s := NewStar(t, 2)
	var ln net.Listener
	if err := s.Server.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "[::]:7777")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for i, c := range s.Clients {
		for _, a := range []netip.Addr{s.Addr4, s.Addr6} {
			conn, err := c.Dial(netip.AddrPortFrom(a, 7777), 2*time.Second)
			if err != nil {
				t.Fatalf("client %d to %s: %v", i, a, err)
			}
			local := conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
			if local != s.Client4[i] && local != s.Client6[i] {
				t.Errorf("client %d dialed from %s", i, local)
			}
			conn.Close()
		}
	}
}
