package firewall

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// peers returns n distinct /32s in 10.100.0.0/16, which sort before the
// test clients (10.213.0.x): an allowed client is matched by the last rule.
func peers(n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 100, byte(i / 250), byte(1 + i%250)}), 32)
	}
	return out
}

var benchSizes = []int{10, 1000, 10000}

// BenchmarkApply measures a full Apply (check, load, jump, read-back) of
// both families with a linear allowlist of n peers.
func BenchmarkApply(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			ns := nstest.New(b)
			a := realApplier(b, ns)
			s := Spec{Port: testPort, Allow: peers(n), Loopback: true}
			for b.Loop() {
				if _, err := Apply(ctx, a, s, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConnect measures one TCP connection (connect, greeting, close)
// through the chain, for a peer matched by the last allow rule and for a
// refused peer (walks the whole chain, then tcp-reset). Above
// SetThreshold peers the allowlist is an ipset.
func BenchmarkConnect(b *testing.B) { benchConnect(b) }

// BenchmarkConnectLinear is BenchmarkConnect with one rule per peer at
// every size: the measurement behind SetThreshold.
func BenchmarkConnectLinear(b *testing.B) {
	setThreshold = 1 << 30
	defer func() { setThreshold = SetThreshold }()
	benchConnect(b)
}

// BenchmarkApplyLinear is BenchmarkApply with one rule per peer.
func BenchmarkApplyLinear(b *testing.B) {
	setThreshold = 1 << 30
	defer func() { setThreshold = SetThreshold }()
	BenchmarkApply(b)
}

func benchConnect(b *testing.B) {
	star := nstest.NewStar(b, 2)
	a := realApplier(b, star.Server)
	serve(b, star.Server)
	for _, n := range append([]int{0}, benchSizes...) {
		s := Spec{Port: testPort, Allow: append(peers(n), netip.PrefixFrom(star.Client4[0], 32))}
		if _, err := Apply(ctx, a, s, nil); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("allowed/peers=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := greet(star.Clients[0], star.Addr4); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("refused/peers=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := greet(star.Clients[1], star.Addr4); err == nil {
					b.Fatal("refused peer got through")
				}
			}
		})
	}
}
