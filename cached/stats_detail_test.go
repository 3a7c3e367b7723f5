package cached

import (
	"net"
	"slices"
	"strings"
	"testing"
)

// detailScript exercises every command that records prefix statistics
// (and a meta command, which does not), with delimiter d.
func detailScript(d string) []string {
	k := func(p, s string) string { return p + d + s }
	return []string{
		"set " + k("user", "1") + " 0 0 1\r\na\r\n",
		"set " + k("user", "2") + " 0 0 1\r\nb\r\n",
		"add " + k("user", "1") + " 0 0 1\r\nc\r\n",
		"append " + k("sess", "9") + " 0 0 1\r\nd\r\n",
		"get " + k("user", "1") + " " + k("user", "3") + " " + k("sess", "9") + " plain\r\n",
		"gets " + k("user", "2") + "\r\n",
		"gat 100 " + k("user", "2") + "\r\n",
		"delete " + k("user", "1") + "\r\n",
		"delete " + k("gone", "x") + "\r\n",
		"set " + k("big", "1") + " 0 0 2000000 noreply\r\n" + strings.Repeat("x", 2000000) + "\r\n",
		"mg " + k("meta", "1") + " v\r\n",
		"set plain 0 0 1\r\nz\r\n",
	}
}

// detailDump runs the script on a fresh connection and returns the
// dump's PREFIX lines, sorted (memcached lists them in hash order).
func detailDump(t *testing.T, addr string, script []string, bin []pkt) []string {
	t.Helper()
	nc := dial(t, addr)
	textRequest(t, nc, "stats detail on\r\n", "")
	for _, r := range script {
		nc.Write([]byte(r))
	}
	textRequest(t, nc, "mn\r\n", "MN")
	if bin != nil {
		bc := dial(t, addr)
		var send []byte
		for _, p := range bin {
			send = append(send, p.bytes()...)
		}
		exchange(t, bc, send)
	}
	lines := textRequest(t, nc, "stats detail dump\r\n", "END")
	lines = lines[:len(lines)-1]
	slices.Sort(lines)
	return lines
}

func TestStatsDetailMatchesMemcached(t *testing.T) {
	bin := []pkt{
		req(opSet, "bin:1", setExtras(0, 0), "v"), req(opGet, "bin:1", nil, ""),
		req(opGetK, "bin:2", nil, ""), req(opAppend, "bin:1", nil, "w"), req(opDelete, "bin:1", nil, ""),
	}
	for _, tc := range []struct{ name, delim string }{{"default", ":"}, {"-D /", "/"}} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.delim != ":" {
				args = []string{"-D", tc.delim}
			}
			mc := startMemcached(t, args...)
			cc := startCachectl(t, args...)
			want := detailDump(t, mc.addr, detailScript(tc.delim), bin)
			got := detailDump(t, cc.addr, detailScript(tc.delim), bin)
			if !slices.Equal(got, want) {
				t.Errorf("stats detail dump:\n%s\nmemcached's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(want) < 4 {
				t.Errorf("memcached's dump is too small to prove anything: %q", want)
			}
			for _, d := range []*daemon{mc, cc} {
				nc := d.dial(t)
				settings := textRequest(t, nc, "stats settings\r\n", "END")
				if v := statValue(settings, "stat_key_prefix"); v != tc.delim {
					t.Errorf("%s: stat_key_prefix %q, want %q", d.cmd.Path, v, tc.delim)
				}
				if got := textRequest(t, nc, "stats reset\r\nstats detail dump\r\n", "END"); !slices.Equal(got, []string{"RESET", "END"}) {
					t.Errorf("%s: after stats reset the dump is %q", d.cmd.Path, got)
				}
			}
		})
	}
}

// Off, nothing is counted; on/off answer OK and bad arguments the usage.
func TestStatsDetailOnOff(t *testing.T) {
	_, addr := startInProcess(t, nil)
	nc, _ := net.Dial("tcp", addr)
	defer nc.Close()
	nc.Write([]byte("set a:1 0 0 1\r\nx\r\n"))
	textRequest(t, nc, "get a:1\r\n", "END")
	for req, want := range map[string]string{
		"stats detail off\r\n":   "OK",
		"stats detail\r\n":       "CLIENT_ERROR usage: stats detail on|off|dump",
		"stats detail bogus\r\n": "CLIENT_ERROR usage: stats detail on|off|dump",
		"stats detail dump\r\n":  "END",
	} {
		if got := textRequest(t, nc, req, ""); got[0] != want {
			t.Errorf("%q: %q, want %q", req, got[0], want)
		}
	}
}
