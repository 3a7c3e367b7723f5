package cached

import (
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// PHP's two memcached extensions over the text protocol, against this
// daemon and memcached 1.6.18. Both servers refuse the binary protocol,
// so a client or session handler that quietly fell back to binary fails
// here instead of passing for the wrong reason.

// TestPHPMemcachedText drives the libmemcached-based Memcached class
// and its session handler (memcached.sess_binary_protocol off).
func TestPHPMemcachedText(t *testing.T) {
	testPHPText(t, "memcached", "php-memcached", "testdata/php/text_memcached.php", `set: true RES_SUCCESS
get: 'hello' RES_SUCCESS
get missing: false RES_NOTFOUND
add existing: false RES_NOTSTORED
add new: true RES_SUCCESS
replace missing: false RES_NOTSTORED
replace existing: true RES_SUCCESS
get replaced: 'replaced' RES_SUCCESS
append: true RES_SUCCESS
prepend: true RES_SUCCESS
append missing: false RES_NOTSTORED
get appended: '> hello world' RES_SUCCESS
extended: > hello world cas=set flags=0
cas: true RES_SUCCESS
stale cas: false RES_DATA_EXISTS
cas missing: false RES_NOTFOUND
get swapped: 'swapped' RES_SUCCESS
increment missing: false RES_NOTFOUND
set counter: true RES_SUCCESS
increment: 15 RES_SUCCESS
decrement: 12 RES_SUCCESS
decrement below zero: 0 RES_SUCCESS
get counter: 0 RES_SUCCESS
increment non-numeric: false RES_CLIENT_ERROR
setMulti: true RES_SUCCESS
getMulti: {"t:m1":"one","t:m2":2,"t:m3":[3]} RES_SUCCESS
getMulti preserving order: {"t:m3":[3],"t:missing":null,"t:m1":"one"}
getDelayed: true RES_SUCCESS
fetchAll: [["t:m1","one"],["t:m2",2]]
deleteMulti t:m1: true
deleteMulti t:m3: true
deleteMulti t:missing: RES_NOTFOUND
getMulti after delete: {"t:m2":2}
delete missing: false RES_NOTFOUND
delete: true RES_SUCCESS
set already expired: true RES_SUCCESS
get expired: false RES_NOTFOUND
touch: true RES_SUCCESS
touch missing: false RES_NOTFOUND
noreply: [true,true,false,true,true,true,true]
after noreply: {"t:nr2":"b","t:nr3":9,"t:nr4":"de"}
set compressible: true RES_SUCCESS
compressible: 208000 bytes, same=true stored flags=80 bytes=853
set incompressible: true RES_SUCCESS
incompressible: 204800 bytes, same=true stored flags=0 bytes=204800
set too large: false RES_E2BIG
too large message: ITEM TOO BIG
get too large: false RES_NOTFOUND
get after too large: 'swapped' RES_SUCCESS
set array: true RES_SUCCESS
array: equal=true object=ArrayObject stored flags=4 bytes=158
int: 42 identical=true stored flags=1 bytes=2
negative: -7 identical=true stored flags=1 bytes=2
float: 1.5 identical=true stored flags=2 bytes=3
true: true identical=true stored flags=3 bytes=1
false: false identical=true stored flags=3 bytes=0
empty: '' identical=true stored flags=0 bytes=0
key with space: false RES_BAD_KEY_PROVIDED
key too long: false RES_BAD_KEY_PROVIDED
key of 250: true RES_SUCCESS
get key of 250: 'x' RES_SUCCESS
version: 1 servers, all answered=true
stats for this server: pid=yes uptime=yes curr_items=yes get_hits=yes get_misses=yes version=yes
written
session: {"user":"bob","cart":[3,1,4]}
get from writer: 'swapped' RES_SUCCESS
get touched: 'replaced' RES_SUCCESS
flush: true RES_SUCCESS
get flushed: false RES_NOTFOUND
getMulti flushed: []
read
`)
}

// TestPHPMemcacheText drives pecl memcache's Memcache class, which only
// speaks text, and its session handler.
func TestPHPMemcacheText(t *testing.T) {
	testPHPText(t, "memcache", "php-memcache", "testdata/php/text_memcache.php", `server status: 1
set: true
get: 'hello'
get through addServer: 'hello'
get missing: false
set user flag: true
get user flag: 'marked'
flags: 131072 stored flags=131072 bytes=6
add existing: false
add new: true
replace missing: false
replace existing: true
get replaced: 'replaced'
append: true
prepend: true
append missing: false
get appended: '> hello world'
get with cas: > hello world cas=set
cas: true
stale cas: false
get swapped: 'swapped'
increment missing: false
increment missing with default: false
set counter: true
increment: 15
decrement: 12
decrement below zero: 0
get counter: 0
set many: true
get many: {"p:m1":"one","p:m2":2,"p:m3":[3]}
get none: []
delete: true
delete missing: false
get deleted: false
set already expired: true
get expired: false
set compressed: true
compressed: 208000 bytes, same=true flags=2 stored flags=2 bytes=554
set incompressible: true
incompressible: 204800 bytes, same=true stored flags=0 bytes=204800
set too large: false
too large notice: MemcachePool::set(): Server 127.0.0.1 (tcp PORT, udp 0) failed with: SERVER_ERROR object too large for cache (3)
get too large: false
get after too large: 'swapped'
set array: true
array: equal=true object=ArrayObject stored flags=1 bytes=158
int: 42 identical=true stored flags=768 bytes=2
float: 1.5 identical=true stored flags=1792 bytes=3
true: true identical=true stored flags=256 bytes=1
false: false identical=true stored flags=256 bytes=1
empty: '' identical=true stored flags=0 bytes=0
version: answered=true
stats: pid=yes uptime=yes curr_items=yes get_hits=yes version=yes
extended stats: 1 servers, this one=true
written
session: {"user":"carol","roles":["admin","dev"]}
get from writer: 'swapped'
get added: 'replaced'
flush: true
get flushed: false
get many flushed: []
read
`)
}

// testPHPText runs script's write phase then its read phase, each a
// separate php process as two web requests would be, against fresh
// servers so nothing is left over from another test.
func testPHPText(t *testing.T, ext, pkg, script, want string) {
	requireTool(t, "php", "php-cli "+pkg)
	if out, err := runToolOut(t, "php", "-r", "exit(extension_loaded('"+ext+"') ? 0 : 1);"); err != nil {
		nstest.Unavailable(t, "PHP's %s extension is not loaded (apt-get install %s): %v %s", ext, pkg, err, out)
	}
	_, ours := startInProcess(t, func(c *Config) { c.Protocol = ProtocolASCII })
	ref := memcachedAddr(t, "-B", "ascii")
	for _, srv := range []struct{ name, addr string }{{"ours", ours}, {"memcached", ref}} {
		_, port, _ := strings.Cut(srv.addr, ":")
		var got string
		for _, phase := range []string{"write", "read"} {
			out, err := runToolOut(t, "php", script, port, phase)
			if err != nil {
				t.Fatalf("%s: php %s %s: %v\n%s", srv.name, script, phase, err, out)
			}
			got += out
		}
		if got != want {
			t.Errorf("%s: PHP printed\n%s\nwant\n%s", srv.name, got, want)
		}
	}
}
