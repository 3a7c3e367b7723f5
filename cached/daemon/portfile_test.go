package daemon

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPortLines(t *testing.T) {
	cases := []struct {
		addr     string
		wildcard bool
		want     string
	}{
		{"127.0.0.1:11211", false, "TCP INET: 11211\n"},
		{"[::1]:11211", false, "TCP INET6: 11211\n"},
		{"[::ffff:10.0.0.1]:7", false, "TCP INET: 7\n"},
		// Without -l memcached lists its IPv4 and IPv6 sockets; Go's one
		// wildcard socket serves both.
		{"[::]:40000", true, "TCP INET: 40000\nTCP INET6: 40000\n"},
		{"[::]:40000", false, "TCP INET6: 40000\n"},
		{"0.0.0.0:40000", true, "TCP INET: 40000\n"},
		// -l 0.0.0.0 binds an AF_INET socket, as memcached's.
		{"0.0.0.0:40000", false, "TCP INET: 40000\n"},
	}
	for _, tc := range cases {
		var b strings.Builder
		portLines(&b, "TCP", netip.MustParseAddrPort(tc.addr), tc.wildcard)
		if b.String() != tc.want {
			t.Errorf("%s (wildcard %v): %q, want %q", tc.addr, tc.wildcard, b.String(), tc.want)
		}
	}
}
