package policy

import (
	"net/netip"
	"testing"
)

func TestImportMemcachedConfLines(t *testing.T) {
	local := []netip.Addr{netip.MustParseAddr("10.1.0.1")}
	tests := []struct {
		conf    string
		check   func(p *Policy) bool
		dropped int
		hints   int
	}{
		{"-m64", func(p *Policy) bool { return p.Daemon.MemoryLimitMB == 64 }, 0, 0},
		{"--memory-limit=128", func(p *Policy) bool { return p.Daemon.MemoryLimitMB == 128 }, 0, 0},
		{"-p 11311 -U 11311", func(p *Policy) bool { return p.Bind.Port == 11311 && p.Bind.UDPPort == 11311 }, 0, 0},
		{"-I 1m", func(p *Policy) bool { return p.Daemon.MaxItemSize == 1<<20 }, 0, 0},
		{"-l 10.1.0.1\n-l 10.1.0.1", func(p *Policy) bool { return len(p.Bind.Addresses) == 1 }, 0, 0},
		{"-l 10.9.9.9", func(p *Policy) bool { return len(p.Bind.Addresses) == 1 }, 0, 1},
		{"-l [::1]:11211", func(p *Policy) bool { return p.Bind.Addresses[0] == netip.IPv6Loopback() }, 0, 0},
		{"-l cache.example", func(p *Policy) bool { return len(p.Bind.Addresses) == 0 }, 1, 0},
		{"-t 0\n-c x", func(p *Policy) bool { return p.Daemon.Threads == DefaultThreads }, 2, 0},
		{"# -m 1\n\n-X", func(p *Policy) bool { return p.Daemon.MemoryLimitMB == DefaultMemoryLimitMB }, 1, 0},
	}
	for _, tc := range tests {
		imp, err := ImportMemcachedConf([]byte(tc.conf), local)
		if err != nil {
			t.Errorf("%q: %v", tc.conf, err)
			continue
		}
		hints := 0
		for _, l := range imp.Listen {
			if l.Hint != "" {
				hints++
			}
		}
		if !tc.check(imp.Policy) || len(imp.Dropped) != tc.dropped || hints != tc.hints {
			t.Errorf("%q: policy %+v, dropped %+v, %d hints; want %d dropped, %d hints", tc.conf, imp.Policy, imp.Dropped, hints, tc.dropped, tc.hints)
		}
	}
}
