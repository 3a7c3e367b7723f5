package cached

import "testing"

// The binary hit and store paths must not allocate per request either.

func BenchmarkBinaryGetHit(b *testing.B) {
	set := req(opSet, "key:1", setExtras(0, 0), value100).bytes()
	benchBatch(b, string(set), string(req(opGetK, "key:1", nil, "").bytes()))
}

func BenchmarkBinarySetQ(b *testing.B) {
	benchBatch(b, "", string(req(opSetQ, "key:1", setExtras(0, 0), value100).bytes()))
}
