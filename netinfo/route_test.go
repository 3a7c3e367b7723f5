package netinfo

import (
	"net/netip"
	"strings"
	"testing"
)

func TestReversePath(t *testing.T) {
	peer := netip.MustParseAddr("10.61.9.1")
	viaB := Route{Iface: "ethB", Src: netip.MustParseAddr("10.61.2.2"), Gateway: netip.MustParseAddr("10.61.2.1"), Type: "unicast"}
	rp := func(all, a int) *RPFilter { return &RPFilter{All: all, Iface: map[string]int{"ethA": a, "ethB": 0}} }
	tests := []struct {
		name   string
		path   Path
		arrive string
		ok     bool
		mode   int
		drops  bool
		reason string
	}{
		{"off everywhere", Path{Peer: peer, Route: viaB, RPFilter: rp(0, 0)}, "ethA", true, 0, false, "off on ethA"},
		{"strict on the interface, asymmetric", Path{Peer: peer, Route: viaB, RPFilter: rp(0, 1)}, "ethA", true, 1, true, "leaves by ethB"},
		{"strict through all, asymmetric", Path{Peer: peer, Route: viaB, RPFilter: rp(1, 0)}, "ethA", true, 1, true, "strict"},
		{"loose wins over strict all (max)", Path{Peer: peer, Route: viaB, RPFilter: rp(1, 2)}, "ethA", true, 2, false, "loose"},
		{"strict, symmetric", Path{Peer: peer, Route: viaB, RPFilter: rp(1, 1)}, "ethB", true, 1, false, "leaves by it"},
		{"loose without a route back", Path{Peer: peer, Route: Route{Err: "network is unreachable"}, RPFilter: rp(2, 0)}, "ethA", true, 2, true, "no route"},
		{"local peer", Path{Peer: peer, Route: Route{Iface: "lo", Type: "local"}, RPFilter: rp(1, 1)}, "lo", true, 1, false, "local address"},
		{"IPv6 has no rp_filter", Path{Peer: netip.MustParseAddr("fd00::1"), Route: viaB}, "ethA", false, 0, false, ""},
		{"arrival unknown", Path{Peer: peer, Route: viaB, RPFilter: rp(1, 1)}, "", false, 0, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := tc.path.ReversePath(tc.arrive)
			if ok != tc.ok || c.Mode != tc.mode || c.Drops != tc.drops || !strings.Contains(c.Reason, tc.reason) {
				t.Errorf("ReversePath(%q) = %+v, %v; want mode %d drops %v ok %v reason ~%q", tc.arrive, c, ok, tc.mode, tc.drops, tc.ok, tc.reason)
			}
		})
	}
}

func TestRouteString(t *testing.T) {
	for _, tc := range []struct {
		r    Route
		want string
	}{
		{Route{Iface: "eth0", Src: netip.MustParseAddr("10.0.0.2"), Type: "unicast"}, "on-link on eth0, from 10.0.0.2"},
		{Route{Iface: "eth0", Src: netip.MustParseAddr("10.0.0.2"), Gateway: netip.MustParseAddr("10.0.0.1"), Type: "unicast"}, "via 10.0.0.1 on eth0, from 10.0.0.2"},
		{Route{Err: "network is unreachable"}, "no route: network is unreachable"},
		{Route{Type: "blackhole"}, "a blackhole route"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}
