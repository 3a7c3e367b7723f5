package cached

import (
	"bytes"
	"strings"
	"testing"
)

// binStep is one exchange of a scenario: its packets (or raw bytes), sent
// together, and the statuses expected back in order (checked against this
// daemon; memcached must answer identically anyway).
type binStep struct {
	send    []pkt
	raw     []byte
	lastCAS bool // replace send[0]'s CAS with the last CAS the server returned
	want    []uint16
	closed  bool
}

func s(want []uint16, p ...pkt) binStep { return binStep{send: p, want: want} }
func st(codes ...uint16) []uint16       { return codes }

var (
	ok       = st(statusOK)
	notFound = st(statusNotFound)
	exists   = st(statusExists)
	silent   = st()
)

func malformed(p pkt, field string, v int) pkt {
	switch field {
	case "extlen":
		p.extlen = v
	case "keylen":
		p.keylen = v
	case "bodylen":
		p.bodylen = v
	}
	return p
}

const noCreate = 0xffffffff

var longKey = strings.Repeat("k", 251)

// binaryScenarios run on a fresh (flushed) connection each.
var binaryScenarios = []struct {
	name  string
	steps []binStep
}{
	{"get miss", []binStep{s(notFound, req(opGet, "nokey", nil, "")), s(notFound, req(opGetK, "nokey", nil, "")),
		s(silent, req(opGetQ, "nokey", nil, "")), s(silent, req(opGetKQ, "nokey", nil, ""))}},
	{"set get", []binStep{s(ok, req(opSet, "k", setExtras(0xdeadbeef, 0), "hello")),
		s(ok, req(opGet, "k", nil, "")), s(ok, req(opGetK, "k", nil, "")),
		s(ok, req(opGetQ, "k", nil, "")), s(ok, req(opGetKQ, "k", nil, ""))}},
	{"quiet pipeline", []binStep{s(st(statusOK, statusNotFound, statusOK),
		req(opSetQ, "a", setExtras(1, 0), "A"), req(opSetQ, "b", setExtras(2, 0), "B"),
		req(opGetKQ, "a", nil, ""), req(opGetKQ, "zz", nil, ""), req(opGetQ, "zz", nil, ""),
		req(opDelete, "zz", nil, ""), req(opGetK, "b", nil, ""))}},
	{"empty value", []binStep{s(ok, req(opSet, "e", setExtras(0, 0), "")), s(ok, req(opGet, "e", nil, ""))}},
	{"add", []binStep{s(ok, req(opAdd, "k", setExtras(0, 0), "1")), s(exists, req(opAdd, "k", setExtras(0, 0), "2")),
		s(exists, req(opAddQ, "k", setExtras(0, 0), "3")), s(silent, req(opAddQ, "k2", setExtras(0, 0), "3")),
		s(ok, req(opGet, "k", nil, ""))}},
	{"replace", []binStep{s(notFound, req(opReplace, "k", setExtras(0, 0), "1")),
		s(notFound, req(opReplaceQ, "k", setExtras(0, 0), "1")),
		s(ok, req(opSet, "k", setExtras(0, 0), "1")), s(ok, req(opReplace, "k", setExtras(5, 0), "2")),
		s(silent, req(opReplaceQ, "k", setExtras(6, 0), "3")), s(ok, req(opGet, "k", nil, ""))}},
	{"cas", []binStep{s(notFound, req(opSet, "k", setExtras(0, 0), "1").withCAS(99)),
		s(ok, req(opSet, "k", setExtras(0, 0), "1")),
		s(exists, req(opSet, "k", setExtras(0, 0), "2").withCAS(1<<40)),
		s(exists, req(opReplace, "k", setExtras(0, 0), "2").withCAS(1<<40)),
		s(exists, req(opAdd, "k", setExtras(0, 0), "2").withCAS(1<<40)),
		s(exists, req(opAppend, "k", nil, "2").withCAS(1<<40)),
		s(exists, req(opDelete, "k", nil, "").withCAS(1<<40)),
		s(exists, req(opIncrement, "k", arithExtras(1, 0, 0), "").withCAS(1<<40)),
		s(ok, req(opGet, "k", nil, "")),
		{send: []pkt{req(opSet, "k", setExtras(0, 0), "3")}, lastCAS: true, want: ok},
		{send: []pkt{req(opAppend, "k", nil, "4")}, lastCAS: true, want: ok},
		{send: []pkt{req(opIncrement, "k", arithExtras(1, 0, 0), "")}, lastCAS: true, want: ok},
		{send: []pkt{req(opDelete, "k", nil, "")}, lastCAS: true, want: ok},
		s(notFound, req(opGet, "k", nil, ""))}},
	{"delete", []binStep{s(notFound, req(opDelete, "k", nil, "")), s(notFound, req(opDeleteQ, "k", nil, "")),
		s(ok, req(opSet, "k", setExtras(0, 0), "v")), s(silent, req(opDeleteQ, "k", nil, "")),
		s(notFound, req(opGet, "k", nil, ""))}},
	{"incr decr", []binStep{
		s(notFound, req(opIncrement, "n", arithExtras(1, 5, noCreate), "")),
		s(notFound, req(opDecrementQ, "n", arithExtras(1, 5, noCreate), "")),
		s(ok, req(opIncrement, "n", arithExtras(1, 10, 0), "")),
		s(ok, req(opIncrement, "n", arithExtras(7, 10, 0), "")),
		s(silent, req(opIncrementQ, "n", arithExtras(100, 10, 0), "")),
		s(ok, req(opDecrement, "n", arithExtras(1000, 0, 0), "")),
		s(ok, req(opGet, "n", nil, "")),
		s(ok, req(opDecrement, "d", arithExtras(3, 2, 0), "")),
		s(ok, req(opSet, "max", setExtras(0, 0), "18446744073709551615")),
		s(ok, req(opIncrement, "max", arithExtras(2, 0, 0), "")),
		s(ok, req(opGet, "max", nil, "")),
		s(ok, req(opSet, "n99", setExtras(0, 0), "99")),
		s(ok, req(opIncrement, "n99", arithExtras(1, 0, 0), "")),
		s(ok, req(opGet, "n99", nil, "")),
		s(ok, req(opSet, "txt", setExtras(0, 0), "abc")),
		s(st(statusBadDelta), req(opIncrement, "txt", arithExtras(1, 0, 0), "")),
		s(st(statusBadDelta), req(opDecrementQ, "txt", arithExtras(1, 0, 0), "")),
		s(ok, req(opSet, "empty", setExtras(0, 0), "")),
		s(st(statusBadDelta), req(opIncrement, "empty", arithExtras(1, 0, 0), ""))}},
	{"append prepend", []binStep{
		s(st(statusNotStored), req(opAppend, "k", nil, "x")), s(st(statusNotStored), req(opPrependQ, "k", nil, "x")),
		s(ok, req(opSet, "k", setExtras(42, 0), "mid")),
		s(ok, req(opAppend, "k", nil, ">")), s(silent, req(opAppendQ, "k", nil, ">")),
		s(ok, req(opPrepend, "k", nil, "<")), s(silent, req(opPrependQ, "k", nil, "<")),
		s(ok, req(opGet, "k", nil, ""))}},
	{"touch gat", []binStep{
		s(notFound, req(opTouch, "k", u32(10), "")), s(notFound, req(opGAT, "k", u32(10), "")),
		s(notFound, req(opGATK, "k", u32(10), "")), s(silent, req(opGATQ, "k", u32(10), "")),
		s(silent, req(opGATKQ, "k", u32(10), "")),
		s(ok, req(opSet, "k", setExtras(7, 0), "val")),
		s(ok, req(opTouch, "k", u32(100), "")), s(ok, req(opGAT, "k", u32(100), "")),
		s(ok, req(opGATK, "k", u32(100), "")), s(ok, req(opGATQ, "k", u32(100), "")),
		s(ok, req(opGATKQ, "k", u32(100), "")),
		s(ok, req(opGAT, "k", u32(0xfffffff0), "")), // absolute time far ahead
		s(ok, req(opGet, "k", nil, ""))}},
	{"expired", []binStep{
		s(ok, req(opSet, "k", setExtras(0, 2592001), "v")), // absolute, 1970: expired at once
		s(notFound, req(opGet, "k", nil, "")),
		s(ok, req(opSet, "k", setExtras(0, 0), "v")), s(ok, req(opTouch, "k", u32(2592001), "")),
		s(notFound, req(opGet, "k", nil, ""))}},
	{"flush", []binStep{
		s(ok, req(opSet, "k", setExtras(0, 0), "v")), s(ok, req(opFlush, "", nil, "")),
		s(notFound, req(opGet, "k", nil, "")),
		s(ok, req(opSet, "k", setExtras(0, 0), "v")), s(silent, req(opFlushQ, "", nil, "")),
		s(notFound, req(opGet, "k", nil, "")),
		s(ok, req(opSet, "k", setExtras(0, 0), "v")), s(ok, req(opFlush, "", u32(3600), "")),
		s(ok, req(opGet, "k", nil, ""))}},
	{"version noop", []binStep{s(ok, req(opVersion, "", nil, "")), s(ok, req(opNoop, "", nil, ""))}},
	{"unknown opcodes", []binStep{
		s(st(statusUnknownCmd), req(0x30, "", nil, "")),
		s(st(statusUnknownCmd), req(0x3c, "", nil, "")),
		s(st(statusUnknownCmd), req(0x1b, "", nil, "")),
		s(st(statusUnknownCmd), req(0xff, "", nil, "a body to skip")),
		s(st(statusUnknownCmd), req(opSASLList, "", nil, "")),
		s(st(statusUnknownCmd), req(opSASLAuth, "PLAIN", nil, "\x00user\x00pass")),
		s(st(statusUnknownCmd), req(opSASLStep, "PLAIN", nil, "")),
		s(ok, req(opVersion, "", nil, ""))}},
	{"too large", []binStep{
		s(st(statusTooLarge), req(opSet, "big", setExtras(0, 0), strings.Repeat("x", 1<<20))),
		s(st(statusTooLarge), req(opSetQ, "big", setExtras(0, 0), strings.Repeat("x", 1<<20))),
		s(st(statusTooLarge), req(opAdd, "big", setExtras(0, 0), strings.Repeat("x", 1<<20))),
		s(st(statusTooLarge), req(opAppend, "big", nil, strings.Repeat("x", 1<<20))),
		s(ok, req(opSet, "big", setExtras(0, 0), strings.Repeat("x", 1000000))),
		s(ok, req(opGet, "big", nil, "")),
		s(st(statusTooLarge), req(opSet, "big", setExtras(0, 0), strings.Repeat("x", 1<<20))),
		s(notFound, req(opGet, "big", nil, "")), // a failed set drops the old value
		s(ok, req(opSet, "big", setExtras(0, 0), strings.Repeat("x", 600000))),
		s(st(statusNotStored), req(opAppend, "big", nil, strings.Repeat("y", 600000))),
		s(ok, req(opVersion, "", nil, ""))}},
	{"stat errors", []binStep{
		s(notFound, req(opStat, "nosuch", nil, "")),
		s(notFound, req(opStat, "detail bogus", nil, "")),
		s(notFound, req(opStat, "conns", nil, ""))}},
	{"quit", []binStep{{send: []pkt{req(opQuit, "", nil, "")}, want: ok, closed: true}}},
	{"quitq", []binStep{{send: []pkt{req(opQuitQ, "", nil, "")}, want: silent, closed: true}}},
	{"bad magic", []binStep{{send: []pkt{{magic: 0x81, opcode: opNoop, extlen: -1, keylen: -1, bodylen: -1}}, want: silent, closed: true}}},
	{"key too long", []binStep{{send: []pkt{req(opGet, longKey, nil, "")}, want: st(statusInvalid), closed: true}}},
	{"key too long set", []binStep{{send: []pkt{req(opSet, longKey, setExtras(0, 0), "v")}, want: st(statusInvalid), closed: true}}},
	{"keylen beyond body", []binStep{{send: []pkt{malformed(req(opGet, "abc", nil, ""), "bodylen", 2)}, want: st(statusUnknownCmd), closed: true}}},
	{"get with extras", []binStep{{send: []pkt{req(opGet, "k", u32(1), "")}, want: st(statusInvalid), closed: true}}},
	{"getq without key", []binStep{{send: []pkt{req(opGetQ, "", nil, "")}, want: st(statusInvalid), closed: true}}},
	{"set without extras", []binStep{{send: []pkt{req(opSet, "k", nil, "v")}, want: st(statusInvalid), closed: true}}},
	{"set short extras", []binStep{{send: []pkt{req(opSet, "k", u32(0), "v")}, want: st(statusInvalid), closed: true}}},
	{"delete with value", []binStep{{send: []pkt{req(opDelete, "k", nil, "v")}, want: st(statusInvalid), closed: true}}},
	{"incr short extras", []binStep{{send: []pkt{req(opIncrement, "k", setExtras(0, 0), "")}, want: st(statusInvalid), closed: true}}},
	{"incr with value", []binStep{{send: []pkt{req(opIncrement, "k", arithExtras(1, 0, 0), "v")}, want: st(statusInvalid), closed: true}}},
	{"append with extras", []binStep{{send: []pkt{req(opAppend, "k", u32(0), "v")}, want: st(statusInvalid), closed: true}}},
	{"touch without extras", []binStep{{send: []pkt{req(opTouch, "k", nil, "")}, want: st(statusInvalid), closed: true}}},
	{"version with body", []binStep{{send: []pkt{req(opVersion, "", nil, "x")}, want: st(statusInvalid), closed: true}}},
	{"noop with key", []binStep{{send: []pkt{req(opNoop, "k", nil, "")}, want: st(statusInvalid), closed: true}}},
	{"flush with key", []binStep{{send: []pkt{req(opFlush, "k", nil, "")}, want: st(statusInvalid), closed: true}}},
	{"flush odd extras", []binStep{{send: []pkt{req(opFlush, "", []byte{0, 0}, "")}, want: st(statusInvalid), closed: true}}},
	{"quit with body", []binStep{{send: []pkt{req(opQuit, "", nil, "x")}, want: st(statusInvalid), closed: true}}},
	{"stat with extras", []binStep{{send: []pkt{req(opStat, "", u32(0), "")}, want: st(statusInvalid), closed: true}}},
	{"sasl list with body", []binStep{{send: []pkt{req(opSASLList, "", nil, "x")}, want: st(statusInvalid), closed: true}}},
	{"sasl auth without key", []binStep{{send: []pkt{req(opSASLAuth, "", nil, "")}, want: st(statusInvalid), closed: true}}},
}

// runScenario plays the steps on addr and returns every response (CAS
// reduced to zero/non-zero) and whether the server hung up.
func runScenario(t *testing.T, addr string, steps []binStep, check bool) (trace []pkt) {
	nc := dial(t, addr)
	if got, closed := exchange(t, nc, req(opFlush, "", nil, "").bytes()); closed || len(got) != 1 {
		t.Fatalf("flush before the scenario: %v closed=%v", got, closed)
	}
	var lastCAS uint64
	for i, stp := range steps {
		var send []byte
		for j, p := range stp.send {
			if j == 0 && stp.lastCAS {
				p.cas = lastCAS
			}
			p.opaque = uint32(i<<8 | j + 1)
			send = append(send, p.bytes()...)
		}
		send = append(send, stp.raw...)
		got, closed := exchange(t, nc, send)
		for _, p := range got {
			if p.cas != 0 {
				lastCAS = p.cas
				p.cas = 1
			}
			trace = append(trace, p)
		}
		if check {
			var codes []uint16
			for _, p := range got {
				codes = append(codes, p.status)
			}
			if !equalCodes(codes, stp.want) || closed != stp.closed {
				t.Errorf("binStep %d: statuses %x closed=%v, want %x closed=%v; responses %v", i, codes, closed, stp.want, stp.closed, got)
			}
		}
		if closed {
			trace = append(trace, pkt{opcode: 0xee, value: []byte("closed")})
			break
		}
	}
	return trace
}

func equalCodes(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBinaryAgainstMemcached plays each scenario against this daemon and
// the reference memcached 1.6.18 and requires the same packets back:
// magic, opcode, status, opaque, extras, key, value, and whether a CAS was
// set (CAS values themselves differ).
func TestBinaryAgainstMemcached(t *testing.T) {
	_, ours := startInProcess(t, nil)
	ref := memcachedAddr(t)
	for _, sc := range binaryScenarios {
		t.Run(sc.name, func(t *testing.T) {
			got := runScenario(t, ours, sc.steps, true)
			want := runScenario(t, ref, sc.steps, false)
			if len(got) != len(want) {
				t.Fatalf("%d responses, memcached sent %d:\n ours %v\n  ref %v", len(got), len(want), got, want)
			}
			for i := range got {
				if !samePkt(got[i], want[i]) {
					t.Errorf("response %d:\n ours %v cas=%d\n  ref %v cas=%d", i, got[i], got[i].cas, want[i], want[i].cas)
				}
			}
		})
	}
}

func samePkt(a, b pkt) bool {
	return a.magic == b.magic && a.opcode == b.opcode && a.status == b.status && a.opaque == b.opaque &&
		a.cas == b.cas && bytes.Equal(a.extras, b.extras) && bytes.Equal(a.key, b.key) && bytes.Equal(a.value, b.value)
}
