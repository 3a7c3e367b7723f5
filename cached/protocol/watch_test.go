package protocol

import (
	"net/netip"
	"testing"
)

// Log lines byte for byte as memcached 1.6.18 writes them (the expected
// strings were captured from its watch output).
func TestAppendLogLine(t *testing.T) {
	ts := func(e LogEntry) *LogEntry { e.Sec, e.Usec, e.GID = 1795972363, 41393, 15; return &e }
	cases := []struct {
		e    *LogEntry
		want string
	}{
		{ts(LogEntry{Event: EventItemGet, Key: []byte("a:b"), Status: GetFound, Class: 1, FD: 17, Size: 3}),
			"ts=1795972363.41393 gid=15 type=item_get key=a%3Ab status=found clsid=1 cfd=17 size=3\n"},
		{ts(LogEntry{Event: EventItemGet, Key: []byte("nope"), Status: GetNotFound, FD: 17}),
			"ts=1795972363.41393 gid=15 type=item_get key=nope status=not_found clsid=0 cfd=17 size=0\n"},
		{ts(LogEntry{Event: EventItemStore, Key: []byte("m"), Status: StoreStored, Cmd: CmdSet, TTL: 50, Class: 1, FD: 17, Size: 2}),
			"ts=1795972363.41393 gid=15 type=item_store key=m status=stored cmd=set ttl=50 clsid=1 cfd=17 size=2\n"},
		{ts(LogEntry{Event: EventItemStore, Key: []byte("x"), Status: StoreExists, Cmd: CmdCAS, TTL: -1, Class: 1, FD: 9, Size: 1}),
			"ts=1795972363.41393 gid=15 type=item_store key=x status=exists cmd=cas ttl=4294967295 clsid=1 cfd=9 size=1\n"},
		{ts(LogEntry{Event: EventEviction, Key: []byte("k 1"), Fetched: true, TTL: -1, LastAcc: 3, Class: 5, Size: 100}),
			"ts=1795972363.41393 gid=15 type=eviction key=k%201 fetch=yes ttl=-1 la=3 clsid=5 size=100\n"},
		{ts(LogEntry{Event: EventConnNew, Peer: netip.MustParseAddrPort("127.0.0.1:58254"), Trans: TransportTCP, FD: 17}),
			"ts=1795972363.41393 gid=15 type=conn_new rip=127.0.0.1 rport=58254 transport=tcp cfd=17\n"},
		{ts(LogEntry{Event: EventConnClose, Peer: netip.MustParseAddrPort("127.0.0.1:58254"), Trans: TransportTCP, Reason: ReasonNormal, FD: 17}),
			"ts=1795972363.41393 gid=15 type=conn_close rip=127.0.0.1 rport=58254 transport=tcp reason=normal cfd=17\n"},
		{ts(LogEntry{Event: EventConnClose, Peer: netip.MustParseAddrPort("[2001:db8::7]:4000"), Trans: TransportTCP, Reason: ReasonDenied, FD: 21}),
			"ts=1795972363.41393 gid=15 type=conn_close rip=2001:db8::7 rport=4000 transport=tcp reason=denied cfd=21\n"},
		{ts(LogEntry{Event: EventConnClose, Trans: TransportLocal, Reason: ReasonIdleTimeout, FD: 8}),
			"ts=1795972363.41393 gid=15 type=conn_close rip=unix rport=0 transport=local reason=idle_timeout cfd=8\n"},
	}
	for _, tc := range cases {
		if got := string(AppendLogLine(nil, tc.e)); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

func TestParseWatch(t *testing.T) {
	cases := []struct {
		line string
		want LogFlags
		err  error
	}{
		{"watch", LogFetchers, nil},
		{"watch mutations evictions", LogMutations | LogEvictions, nil},
		{"watch connevents sysevents rawcmds", LogConnEvents | LogSysEvents | LogRawCmds, nil},
		{"watch deletions", 0, ErrUnknownCommand},
		{"watch fetchers noreply", 0, ErrUnknownCommand},
	}
	for _, tc := range cases {
		var toks Tokens
		words, _ := Tokenize([]byte(tc.line), &toks)
		got, err := ParseWatch(words)
		if got != tc.want || err != tc.err {
			t.Errorf("%q: %b, %v; want %b, %v", tc.line, got, err, tc.want, tc.err)
		}
	}
}
