package policy_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cachectl/cachectl/policy"
)

func TestJudgeCountsOwnAddressesAsLoopback(t *testing.T) {
	local := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fe80::1%eth0")}
	open := policy.Default()
	open.Allow(netip.MustParsePrefix("192.0.2.0/24"), "", time.Unix(1700000000, 0))
	open.Reindex()
	closed := policy.Default()
	closed.Peers.AllowLoopback = false
	closed.Reindex()

	for _, tc := range []struct {
		name  string
		p     *policy.Policy
		peer  string
		entry string
		ok    bool
	}{
		{"allowlisted peer", open, "192.0.2.7", "192.0.2.0/24", true},
		{"loopback", open, "127.0.0.1", policy.LoopbackEntry, true},
		{"own LAN address arrives over lo", open, "10.0.0.5", policy.LoopbackEntry, true},
		{"own link-local, zone ignored", open, "fe80::1", policy.LoopbackEntry, true},
		{"mapped own address", open, "::ffff:10.0.0.5", policy.LoopbackEntry, true},
		{"stranger", open, "10.0.0.6", "", false},
		{"loopback off: own address refused too", closed, "10.0.0.5", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entry, ok := tc.p.Judge(local)(netip.MustParseAddr(tc.peer))
			if entry != tc.entry || ok != tc.ok {
				t.Errorf("judge(%s) = %q, %v; want %q, %v", tc.peer, entry, ok, tc.entry, tc.ok)
			}
		})
	}
}
