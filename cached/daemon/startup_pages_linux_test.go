package daemon

import (
	"os"
	"strings"
	"testing"
)

func TestReadOnlyMappings(t *testing.T) {
	const exe = "/usr/bin/cachectl"
	smaps := `00400000-00b0f000 r-xp 00000000 fe:00 9978435                            /usr/bin/cachectl
Size:               7228 kB
Rss:                6204 kB
Anonymous:             0 kB
00b0f000-012d8000 r--p 0070f000 fe:00 9978435                            /usr/bin/cachectl
Rss:                5624 kB
Anonymous:             0 kB
012d8000-01345000 rw-p 00ed8000 fe:00 9978435                            /usr/bin/cachectl
Rss:                 372 kB
Anonymous:            96 kB
01345000-01346000 r--p 00f45000 fe:00 9978435                            /usr/bin/cachectl
Rss:                   4 kB
Anonymous:             4 kB
7f0000000000-7f0000001000 r-xp 00000000 fe:00 12                         /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                   4 kB
Anonymous:             0 kB
7f0000002000-7f0000003000 rw-p 00000000 00:00 0 
Rss:                   4 kB
Anonymous:             4 kB
`
	ms, err := readOnlyMappings(strings.NewReader(smaps), exe)
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{
		{start: 0x400000, end: 0xb0f000, path: exe, rssKB: 6204},
		{start: 0xb0f000, end: 0x12d8000, path: exe, rssKB: 5624},
	}
	if len(ms) != len(want) {
		t.Fatalf("got %d mappings %+v, want %+v", len(ms), ms, want)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("mapping %d: got %+v, want %+v", i, ms[i], want[i])
		}
	}
}

// TestReleaseStartupPages drops this test binary's read-only pages and
// goes on running: the code it runs next faults back in.
func TestReleaseStartupPages(t *testing.T) {
	kb, err := releaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	if kb <= 0 {
		t.Fatalf("released %d kB; the test binary's text is resident", kb)
	}
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		t.Fatal(err)
	}
}
