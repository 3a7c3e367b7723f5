package firewall

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

var mixed = prefixes("10.0.0.0/24", "fd00:213::/64", "10.0.0.1/32", "192.168.7.9/32", "::ffff:10.9.9.9/128", "10.0.0.5/24", "fd00:213::10/128")

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name   string
		spec   Spec
		family netinfo.Family
	}{
		{"v4-tcp-reject.rules", Spec{Port: 11211, Allow: mixed, Loopback: true}, netinfo.IPv4},
		{"v6-tcp-reject.rules", Spec{Port: 11211, Allow: mixed, Loopback: true}, netinfo.IPv6},
		{"v4-tcp-udp-reject.rules", Spec{Port: 11211, UDPPort: 11211, Allow: mixed, Loopback: true, Verdict: policy.VerdictReject}, netinfo.IPv4},
		{"v6-tcp-udp-reject.rules", Spec{Port: 11211, UDPPort: 11211, Allow: mixed, Loopback: true, Verdict: policy.VerdictReject}, netinfo.IPv6},
		{"v4-tcp-udp-otherport-drop.rules", Spec{Port: 11211, UDPPort: 11311, Allow: mixed, Verdict: policy.VerdictDrop}, netinfo.IPv4},
		{"v6-tcp-drop.rules", Spec{Port: 11211, Allow: mixed, Verdict: policy.VerdictDrop}, netinfo.IPv6},
		{"v4-empty.rules", Spec{Port: 11211}, netinfo.IPv4},
		{"v4-large-set.rules", Spec{Port: 11211, Allow: append(peers(SetThreshold+1), prefixes("0.0.0.0/0", "10.100.0.1/32")...), Loopback: true}, netinfo.IPv4},
		{"v6-at-threshold.rules", Spec{Port: 11211, Allow: peers6(SetThreshold)}, netinfo.IPv6},
		{"v6-empty.rules", Spec{Port: 11211}, netinfo.IPv6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.spec.Validate(); err != nil {
				t.Fatal(err)
			}
			var got []byte
			for _, p := range NewRuleset(tc.spec, tc.family).Payloads() {
				got = append(got, p.Bytes...)
			}
			nstest.Golden(t, tc.name, got)
			if again := NewRuleset(tc.spec, tc.family).Render(); !bytes.HasSuffix(got, again) {
				t.Error("render is not deterministic")
			}
		})
	}
}

func TestRenderIndependentOfInputOrder(t *testing.T) {
	a := Spec{Port: 11211, Allow: prefixes("10.0.0.2/32", "10.0.0.1/32", "10.0.0.0/8")}
	b := Spec{Port: 11211, Allow: prefixes("10.0.0.0/8", "10.0.0.1/32", "10.0.0.2/32", "10.0.0.1/32")}
	if !bytes.Equal(NewRuleset(a, netinfo.IPv4).Render(), NewRuleset(b, netinfo.IPv4).Render()) {
		t.Error("allowlist order or duplicates change the render")
	}
}

func TestChainNamesFit(t *testing.T) {
	for _, c := range []string{InputChain, PortChain(65535)} {
		if len(c) > 28 {
			t.Errorf("chain %s is longer than iptables' 28 characters", c)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{}, "TCP port is 0"},
		{Spec{Port: 1, Verdict: "accept"}, `verdict "accept"`},
		{Spec{Port: 1, Allow: []netip.Prefix{{}}}, "not a valid address prefix"},
	}
	for _, tc := range tests {
		err := tc.spec.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestFamilyOf(t *testing.T) {
	for s, want := range map[string]netinfo.Family{"10.0.0.1": netinfo.IPv4, "::ffff:10.0.0.1": netinfo.IPv4, "::1": netinfo.IPv6, "fd00::1": netinfo.IPv6} {
		if got := netinfo.FamilyOf(netip.MustParseAddr(s)); got != want {
			t.Errorf("netinfo.FamilyOf(%s) = %v, want %v", s, got, want)
		}
	}
}

func peers6(n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		out[i] = netip.PrefixFrom(netip.AddrFrom16([16]byte{0: 0xfd, 1: 0x64, 14: byte(i >> 8), 15: byte(i)}), 128)
	}
	return out
}
