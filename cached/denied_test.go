package cached

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDeniedPeersBounded(t *testing.T) {
	var d deniedPeers
	t0 := time.Unix(1_700_000_000, 0)
	first := netip.MustParseAddr("10.0.0.1")
	d.record(first, t0)
	d.record(first, t0.Add(time.Second))
	if got := d.get(first); got.count != 2 || !got.last.Equal(t0.Add(time.Second)) {
		t.Fatalf("first peer: %+v, want 2 refusals, the last at t0+1s", got)
	}
	for i := range deniedPeersMax {
		d.record(netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i)}), t0.Add(time.Duration(2+i)*time.Second))
	}
	if len(d.peers) != deniedPeersMax {
		t.Errorf("table holds %d peers, want the bound %d", len(d.peers), deniedPeersMax)
	}
	if got := d.get(first); got.count != 0 {
		t.Errorf("the peer refused longest ago is still there: %+v", got)
	}
}

// TestStatsDeniedAndPeer: refusals by the allowlist show per peer in
// `stats denied`, and `stats peer ADDR` answers with the filter in force.
func TestStatsDeniedAndPeer(t *testing.T) {
	srv, port := oneLoopServer(t, 0)
	ctl := dialLoopback(t, port)
	if got := textRequest(t, ctl, "stats peer 10.9.9.9\r\n", "END"); strings.Join(got, "|") !=
		"STAT peer 10.9.9.9|STAT allowlist no|STAT admitted yes|STAT denied 0|STAT last_denied 0|END" {
		t.Errorf("without an allowlist: %q", got)
	}
	ctlAddr := netip.MustParseAddr("127.0.0.1")
	srv.SetPeerFilter(func(a netip.Addr) (string, bool) {
		return "10.9.0.0/16", a == ctlAddr || a.Is4() && a.As4()[0] == 10
	})
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for range 2 {
		nc, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		nc.Read(make([]byte, 1)) // closed by the daemon right after accept
		nc.Close()
	}
	got := textRequest(t, ctl, "stats denied\r\n", "END")
	if len(got) != 2 || !strings.HasPrefix(got[0], "STAT denied:127.0.0.2 2 ") {
		t.Errorf("stats denied: %q, want one line for 127.0.0.2 with 2 refusals", got)
	}
	got = textRequest(t, ctl, "stats peer 10.9.9.9\r\n", "END")
	if strings.Join(got, "|") != "STAT peer 10.9.9.9|STAT allowlist yes|STAT admitted yes|STAT entry 10.9.0.0/16|STAT denied 0|STAT last_denied 0|END" {
		t.Errorf("admitted peer: %q", got)
	}
	got = textRequest(t, ctl, "stats peer 127.0.0.2\r\n", "END")
	if len(got) != 6 || got[2] != "STAT admitted no" || got[3] != "STAT denied 2" || got[4] == "STAT last_denied 0" {
		t.Errorf("refused peer: %q", got)
	}
	for req, want := range map[string]string{"stats peer\r\n": "CLIENT_ERROR usage: stats peer ADDR", "stats peer nope\r\n": "CLIENT_ERROR bad peer address"} {
		if got := textRequest(t, ctl, req, ""); got[0] != want {
			t.Errorf("%q: %q, want %q", req, got, want)
		}
	}
}
