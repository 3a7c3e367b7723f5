package cached

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// TestUDPPeerAdmission runs the daemon in a server namespace with two
// client namespaces: the allowlist's peer is answered, any other peer
// gets no datagram at all and is counted; without an allowlist only
// loopback is answered unless udp_any_peer is set.
func TestUDPPeerAdmission(t *testing.T) {
	nstest.RequireRoot(t)
	star := nstest.NewStar(t, 2)
	inServer := func(f func() error) error { return star.Server.Do(f) }
	clientSocket := func(ns *nstest.NS) net.PacketConn {
		var pc net.PacketConn
		if err := ns.Do(func() (err error) { pc, err = net.ListenPacket("udp4", ":0"); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return pc
	}
	allowed, other := clientSocket(star.Clients[0]), clientSocket(star.Clients[1])
	serve := func(port int, anyPeer bool) (*Server, net.Addr) {
		cfg := DefaultConfig()
		cfg.Listen = []string{star.Addr4.String()}
		cfg.Port, cfg.UDPPort, cfg.UDPAnyPeer = port, port, anyPeer
		srv := serveTransport(t, cfg, inServer)
		return srv, net.UDPAddrFromAddrPort(netip.AddrPortFrom(star.Addr4, uint16(port)))
	}
	const reply = "1 0/1 0: \"VERSION " + ProtocolVersion + "\\r\\n\"\n"
	ask := func(pc net.PacketConn, to net.Addr) string {
		return udpTranscript(udpExchange(t, pc, to, 1, "version\r\n", 700*time.Millisecond))
	}

	t.Run("allowlist", func(t *testing.T) {
		srv, to := serve(11211, false)
		client0 := star.Client4[0]
		srv.SetPeerFilter(func(a netip.Addr) (string, bool) { return "client0", a == client0 })
		if got := ask(allowed, to); got != reply {
			t.Errorf("allowed peer got %q, want %q", got, reply)
		}
		udpExchange(t, allowed, to, 2, "set k 0 0 4000\r\n"+string(make([]byte, 4000))+"\r\n", 300*time.Millisecond)
		for _, req := range []string{"version\r\n", "get k\r\n", "stats\r\n"} {
			if got := udpExchange(t, other, to, 3, req, 700*time.Millisecond); len(got) != 0 {
				t.Errorf("peer outside the allowlist got %d datagrams for %q", len(got), req)
			}
		}
		if n := srv.udpDenied.Load(); n != 3 {
			t.Errorf("udp_denied = %d, want 3", n)
		}
	})
	t.Run("no allowlist: loopback only", func(t *testing.T) {
		srv, to := serve(11212, false)
		if got := ask(allowed, to); got != "" {
			t.Errorf("non-loopback peer answered without an allowlist: %q", got)
		}
		if n := srv.udpDenied.Load(); n != 1 {
			t.Errorf("udp_denied = %d, want 1", n)
		}
	})
	t.Run("no allowlist, udp_any_peer", func(t *testing.T) {
		_, to := serve(11213, true)
		if got := ask(other, to); got != reply {
			t.Errorf("udp_any_peer: got %q, want %q", got, reply)
		}
	})
}
