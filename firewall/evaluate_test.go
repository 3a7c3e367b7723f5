package firewall_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/firewalltest"
	"github.com/cachectl/cachectl/netinfo"
)

// loadGolden loads a golden render (sets payload, then rules payload) into
// the iptables double with the INPUT jump, as apply would, and returns
// what iptables-save and ipset save then print.
func loadGolden(t *testing.T, name string, f netinfo.Family) (firewall.Filter, firewall.IPSets) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	fake := firewalltest.New()
	text := string(raw)
	header := firewall.RestoreHeader(f)
	i := strings.Index(text, header)
	if i < 0 {
		t.Fatalf("%s has no %q", name, header)
	}
	if i > 0 {
		if err := fake.RestoreSets(ctx, []byte(text[:i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := fake.Restore(ctx, f, []byte(text[i:]), firewall.Load); err != nil {
		t.Fatal(err)
	}
	fake.SetRules(f, "INPUT", firewalltest.JumpLine())
	return saved(t, fake, f)
}

func saved(t *testing.T, fake *firewalltest.Fake, f netinfo.Family) (firewall.Filter, firewall.IPSets) {
	t.Helper()
	save, err := fake.Save(ctx, f, firewall.Table)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := firewall.ParseFilter(save)
	if err != nil {
		t.Fatal(err)
	}
	setSave, _ := fake.SaveSets(ctx)
	sets, err := firewall.ParseIPSets(setSave)
	if err != nil {
		t.Fatal(err)
	}
	return tbl, sets
}

func pkt(proto, src string, port uint16, iface string) firewall.Packet {
	return firewall.Packet{Proto: proto, Src: netip.MustParseAddr(src), DPort: port, InIface: iface, CTState: "NEW"}
}

func TestEvaluateGoldenRulesets(t *testing.T) {
	const p = firewall.InputChain
	const port = "CACHECTL-P11211"
	tests := []struct {
		golden  string
		family  netinfo.Family
		packet  firewall.Packet
		outcome firewall.Outcome
		chain   string
		rule    int // 0: the policy
		comment string
	}{
		{"v4-tcp-reject.rules", netinfo.IPv4, pkt("tcp", "10.0.0.7", 11211, "eth0"), firewall.Accepted, port, 4, "allow 10.0.0.0/24"},
		{"v4-tcp-reject.rules", netinfo.IPv4, pkt("tcp", "10.9.9.9", 11211, "eth0"), firewall.Accepted, port, 6, "allow 10.9.9.9/32"},
		{"v4-tcp-reject.rules", netinfo.IPv4, pkt("tcp", "10.1.1.1", 11211, "eth0"), firewall.Rejected, port, 8, "default reject tcp"},
		{"v4-tcp-reject.rules", netinfo.IPv4, pkt("tcp", "10.1.1.1", 11211, "lo"), firewall.Accepted, port, 3, "allow loopback"},
		{"v4-tcp-reject.rules", netinfo.IPv4, pkt("udp", "10.1.1.1", 11211, "eth0"), firewall.Accepted, "INPUT", 0, ""},
		{"v4-tcp-reject.rules", netinfo.IPv4, pkt("tcp", "10.1.1.1", 22, "eth0"), firewall.Accepted, "INPUT", 0, ""},
		{"v4-tcp-udp-reject.rules", netinfo.IPv4, pkt("udp", "10.1.1.1", 11211, "eth0"), firewall.Rejected, port, 9, "default reject udp"},
		{"v4-tcp-udp-otherport-drop.rules", netinfo.IPv4, pkt("udp", "10.1.1.1", 11311, "eth0"), firewall.Dropped, "CACHECTL-P11311", 7, "default drop udp"},
		{"v4-tcp-udp-otherport-drop.rules", netinfo.IPv4, pkt("tcp", "10.1.1.1", 11311, "eth0"), firewall.Accepted, "INPUT", 0, ""},
		{"v4-tcp-udp-otherport-drop.rules", netinfo.IPv4, pkt("tcp", "10.1.1.1", 11211, "lo"), firewall.Dropped, port, 7, "default drop tcp"},
		{"v6-tcp-drop.rules", netinfo.IPv6, pkt("tcp", "fd00:213::5", 11211, "eth0"), firewall.Accepted, port, 3, "allow fd00:213::/64"},
		{"v6-tcp-drop.rules", netinfo.IPv6, pkt("tcp", "fd00:1::1", 11211, "eth0"), firewall.Dropped, port, 5, "default drop tcp"},
		{"v4-empty.rules", netinfo.IPv4, pkt("tcp", "10.0.0.7", 11211, "eth0"), firewall.Rejected, port, 3, "default reject tcp"},
		{"v4-large-set.rules", netinfo.IPv4, pkt("tcp", "10.100.0.5", 11211, "eth0"), firewall.Accepted, port, 4, "allow 0.0.0.0/0"},
		{"v6-at-threshold.rules", netinfo.IPv6, pkt("tcp", "fd64::3f", 11211, "eth0"), firewall.Accepted, port, 66, "allow fd64::3f/128"},
	}
	for _, tc := range tests {
		t.Run(tc.golden+"/"+tc.packet.Proto+"/"+tc.packet.Src.String(), func(t *testing.T) {
			tbl, sets := loadGolden(t, tc.golden, tc.family)
			d := tbl.Evaluate(tc.packet, sets)
			if d.Outcome != tc.outcome || d.Chain != tc.chain || d.Rule != tc.rule {
				t.Fatalf("decision %+v; want %s at %s rule %d", d, tc.outcome, tc.chain, tc.rule)
			}
			if tc.comment != "" && !strings.Contains(d.Text, "cachectl: "+tc.comment) {
				t.Errorf("deciding rule %q, want the one commented %q", d.Text, tc.comment)
			}
			if d.Rule > 0 && (len(d.Path) != 3 || d.Path[0] != "INPUT#1" || !strings.HasPrefix(d.Path[1], p+"#")) {
				t.Errorf("path %v, want INPUT#1, %s#N, then the deciding rule", d.Path, p)
			}
		})
	}
}

// TestEvaluateSetBackedAllowlist applies a policy of more than
// SetThreshold peers through Apply (the set payload, then the rules) and
// evaluates members and strangers through the set match.
func TestEvaluateSetBackedAllowlist(t *testing.T) {
	fake := firewalltest.New()
	spec := firewall.Spec{Port: 11211, Allow: firewall.Peers(firewall.SetThreshold + 6), Loopback: true}
	if _, err := firewall.Apply(ctx, fake, spec, nil); err != nil {
		t.Fatal(err)
	}
	tbl, sets := saved(t, fake, netinfo.IPv4)
	member := tbl.Evaluate(pkt("tcp", "10.100.0.70", 11211, "eth0"), sets)
	if member.Outcome != firewall.Accepted || !strings.Contains(member.Text, "--match-set "+firewall.SetName(netinfo.IPv4)+" src") {
		t.Errorf("set member: %+v, want accepted by the set rule", member)
	}
	stranger := tbl.Evaluate(pkt("tcp", "10.100.1.70", 11211, "eth0"), sets)
	if stranger.Outcome != firewall.Rejected {
		t.Errorf("stranger: %+v, want rejected", stranger)
	}
	delete(sets, firewall.SetName(netinfo.IPv4))
	if d := tbl.Evaluate(pkt("tcp", "10.100.0.70", 11211, "eth0"), sets); d.Outcome != firewall.Uncertain || !strings.Contains(d.Reason, "not in `ipset save`") {
		t.Errorf("set missing from ipset save: %+v, want uncertain naming the set", d)
	}
}
