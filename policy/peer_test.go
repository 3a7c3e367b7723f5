package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParsePeer(t *testing.T) {
	good := []struct{ in, want string }{
		{"10.0.0.1", "10.0.0.1/32"},
		{" 10.0.0.1 ", "10.0.0.1/32"},
		{"10.0.0.0/24", "10.0.0.0/24"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"fd00::5", "fd00::5/128"},
		{"fd00::/64", "fd00::/64"},
		{"::/0", "::/0"},
		{"::ffff:10.0.0.1", "10.0.0.1/32"},
		{"::ffff:10.0.0.0/120", "10.0.0.0/24"},
		{"FD00::A", "fd00::a/128"},
	}
	for _, tc := range good {
		got, err := ParsePeer(tc.in)
		if err != nil || got.String() != tc.want {
			t.Errorf("ParsePeer(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	bad := []struct{ in, wantMsg string }{
		{"", "empty peer"},
		{"10.0.0.5/24", "did you mean 10.0.0.0/24"},
		{"fd00::5/64", "did you mean fd00::/64"},
		{"10.0.0.256", "not an IP address"},
		{"10.0.0.0/33", "use 0-32"},
		{"fd00::/129", "use 0-128"},
		{"10.0.0.0/-1", "not valid"},
		{"10.0.0.0/", "not valid"},
		{"fe80::1%eth0", "zone"},
		{"db1.example.com", "addresses, not names"},
		{"localhost", "addresses, not names"},
		{"10.0.0.1:11211", "not an IP address"},
		{"::ffff:0:0/64", "host bits"},
		{"10.0.0.1/32/1", "not valid"},
	}
	for _, tc := range bad {
		got, err := ParsePeer(tc.in)
		if err == nil {
			t.Errorf("ParsePeer(%q) = %v, want error", tc.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("ParsePeer(%q) error %q, want it to mention %q", tc.in, err, tc.wantMsg)
		}
	}
}

func withPeers(loopback bool, cidrs ...string) *Policy {
	p := Default()
	p.Peers.AllowLoopback = loopback
	for _, c := range cidrs {
		p.Allow(netip.MustParsePrefix(c), "", time.Time{})
	}
	p.Reindex()
	return p
}

func TestPermits(t *testing.T) {
	small := withPeers(true, "10.0.0.0/24", "10.0.0.7/32", "fd00::/64")
	noLoop := withPeers(false, "10.0.0.0/24")
	// Past linearMax the index answers; results must not change.
	many := []string{"10.0.0.0/24", "10.0.0.7/32", "fd00::/64"}
	for i := range 40 {
		many = append(many, fmt.Sprintf("192.168.%d.0/24", i))
	}
	big := withPeers(true, many...)
	tests := []struct {
		p     *Policy
		addr  string
		entry string
		ok    bool
	}{
		{small, "10.0.0.1", "10.0.0.0/24", true},
		{small, "10.0.0.7", "10.0.0.7/32", true}, // most specific wins
		{small, "10.0.1.1", "", false},
		{small, "::ffff:10.0.0.1", "10.0.0.0/24", true},
		{small, "fd00::1234", "fd00::/64", true},
		{small, "fd00:0:0:1::1", "", false},
		{small, "127.0.0.1", LoopbackEntry, true},
		{small, "127.9.9.9", LoopbackEntry, true},
		{small, "::1", LoopbackEntry, true},
		{small, "::ffff:127.0.0.1", LoopbackEntry, true},
		{noLoop, "127.0.0.1", "", false},
		{noLoop, "::1", "", false},
		{noLoop, "10.0.0.200", "10.0.0.0/24", true},
		{big, "10.0.0.7", "10.0.0.7/32", true},
		{big, "10.0.0.8", "10.0.0.0/24", true},
		{big, "192.168.39.4", "192.168.39.0/24", true},
		{big, "192.168.40.4", "", false},
		{big, "::ffff:192.168.3.1", "192.168.3.0/24", true},
		{big, "fd00::1", "fd00::/64", true},
		{big, "fe80::1%eth0", "", false},
		{big, "::1", LoopbackEntry, true},
	}
	for _, tc := range tests {
		entry, ok := tc.p.Permits(netip.MustParseAddr(tc.addr))
		if entry != tc.entry || ok != tc.ok {
			t.Errorf("Permits(%s) = %q, %v; want %q, %v", tc.addr, entry, ok, tc.entry, tc.ok)
		}
	}
	if _, ok := small.Permits(netip.Addr{}); ok {
		t.Error("the zero Addr is permitted")
	}
}

func TestPermitsStaleIndex(t *testing.T) {
	p := withPeers(false, "10.0.0.0/24")
	// Appending behind the index's back must not hide the new entry.
	p.Peers.Allowed = append(p.Peers.Allowed, Peer{Prefix: netip.MustParsePrefix("10.1.0.0/16")})
	if e, ok := p.Permits(netip.MustParseAddr("10.1.2.3")); !ok || e != "10.1.0.0/16" {
		t.Errorf("Permits after direct append = %q, %v", e, ok)
	}
}

func TestPermitsDoesNotAllocate(t *testing.T) {
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("10.%d.0.0/16", i), fmt.Sprintf("fd00:%x::/32", i))
	}
	for _, p := range []*Policy{withPeers(true, "10.0.0.0/8"), withPeers(true, many...)} {
		a := netip.MustParseAddr("10.50.1.1")
		b := netip.MustParseAddr("fd00:30::9")
		if n := testing.AllocsPerRun(100, func() { p.Permits(a); p.Permits(b) }); n != 0 {
			t.Errorf("Permits allocates %v times per call (%d entries)", n, len(p.Peers.Allowed))
		}
	}
}

func TestAllowRevoke(t *testing.T) {
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	p := Default()
	pf := netip.MustParsePrefix
	check := func(r AllowResult, status AllowStatus, covered string, everyone bool) {
		t.Helper()
		if r.Status != status || r.CoveredBy != covered || r.Everyone != everyone {
			t.Errorf("Allow(%s) = %+v; want status %s, covered by %q, everyone %v", r.Prefix, r, status, covered, everyone)
		}
	}
	check(p.Allow(pf("10.0.0.1/32"), "app 1", now), Added, "", false)
	check(p.Allow(pf("10.0.0.1/32"), "again", now), Duplicate, "", false)
	check(p.Allow(pf("10.0.0.0/24"), "", now), Added, "", false)
	check(p.Allow(pf("10.0.0.9/32"), "", now), Added, "10.0.0.0/24", false)
	check(p.Allow(pf("127.0.0.2/32"), "", now), Added, LoopbackEntry, false)
	check(p.Allow(pf("::1/128"), "", now), Added, LoopbackEntry, false)
	r := p.Allow(pf("0.0.0.0/0"), "", now)
	check(r, Added, "", true)
	if len(r.Covers) != 4 {
		t.Errorf("0.0.0.0/0 covers %v, want the 4 IPv4 entries", r.Covers)
	}
	check(p.Allow(pf("::/0"), "", now), Added, "", true)
	if got := p.Peers.Allowed[0]; got.Comment != "app 1" || !got.Added.Equal(now) {
		t.Errorf("first entry %+v lost its comment or time", got)
	}
	if !p.Revoke(pf("10.0.0.1/32")) {
		t.Error("Revoke of a present entry reported absent")
	}
	if p.Revoke(pf("10.0.0.1/32")) {
		t.Error("second Revoke reported present")
	}
	if e, ok := p.Permits(netip.MustParseAddr("10.0.0.1")); !ok || e != "10.0.0.0/24" {
		t.Errorf("after revoke, 10.0.0.1 permitted by %q %v; want the /24", e, ok)
	}
	if got := p.CoveredBy(pf("10.0.0.1/32")); got != "10.0.0.0/24" {
		t.Errorf("CoveredBy = %q", got)
	}
	want := "[0.0.0.0/0 10.0.0.0/24 10.0.0.9/32 127.0.0.2/32 ::/0 ::1/128]"
	if got := fmt.Sprint(p.Prefixes()); got != want {
		t.Errorf("Prefixes() = %s, want %s", got, want)
	}
}

func BenchmarkPermits10k(b *testing.B) {
	p := Default()
	for i := range 10000 {
		bits := []int{32, 24, 28, 30}[i%4]
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		pf, _ := a.Prefix(bits)
		p.Peers.Allowed = append(p.Peers.Allowed, Peer{Prefix: pf})
	}
	p.Reindex()
	miss := netip.MustParseAddr("192.168.1.1")
	hit := netip.MustParseAddr("10.39.15.0")
	b.ReportAllocs()
	for b.Loop() {
		p.Permits(miss)
		p.Permits(hit)
	}
}
