package firewall_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/firewalltest"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

var (
	ctx      = context.Background()
	specA    = firewall.Spec{Port: 11211, Allow: firewall.Prefixes("10.0.0.1/32", "fd00::1/128"), Loopback: true}
	specB    = firewall.Spec{Port: 11211, UDPPort: 11211, Allow: firewall.Prefixes("10.0.0.2/32"), Verdict: policy.VerdictDrop}
	hostRule = "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"
)

// hostFake is a fake whose INPUT already holds a rule of the host's own.
func hostFake() *firewalltest.Fake {
	f := firewalltest.New()
	for _, fam := range netinfo.Families {
		f.SetRules(fam, "INPUT", hostRule)
	}
	return f
}

func mustApply(t *testing.T, a firewall.Applier, s firewall.Spec) firewall.Result {
	t.Helper()
	res, err := firewall.Apply(ctx, a, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestApplyInstallsOwnedChainsOnly(t *testing.T) {
	f := hostFake()
	res := mustApply(t, f, specA)
	for _, fam := range netinfo.Families {
		if got := f.Rules(fam, "INPUT"); len(got) != 2 || got[0] != firewalltest.JumpLine() || got[1] != hostRule {
			t.Errorf("%s INPUT = %q, want the jump first and the host rule kept", fam, got)
		}
	}
	if st := statusOf(t, f, specA); !st.OK() {
		t.Errorf("status after apply: %+v", st)
	}
	if len(res.Families) != 2 || !res.Families[0].JumpInserted || !res.Families[1].Applied {
		t.Errorf("result = %+v", res)
	}
	for _, p := range f.Restores {
		jump := strings.Contains(p, "-I INPUT -m comment --comment cachectl -j CACHECTL-INPUT\n")
		if !strings.HasPrefix(p, "# cachectl") && !strings.Contains(p, "-X ") && !jump {
			t.Errorf("unexpected payload loaded:\n%s", p)
		}
	}
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	f := hostFake()
	mustApply(t, f, specA)
	first := f.Snapshot()
	res := mustApply(t, f, specA)
	if !maps.Equal(first, f.Snapshot()) {
		t.Error("second apply changed the tables")
	}
	for _, fr := range res.Families {
		if fr.JumpInserted {
			t.Errorf("%s: jump inserted again", fr.Family)
		}
	}
}

func TestApplyDeletesChainOfOldPort(t *testing.T) {
	f := firewalltest.New()
	mustApply(t, f, specA)
	moved := specA
	moved.Port = 11311
	res := mustApply(t, f, moved)
	if f.HasChain(netinfo.IPv4, firewall.PortChain(11211)) {
		t.Error("chain of the old port is still there")
	}
	if got := res.Families[0].Pruned; len(got) != 1 || got[0] != firewall.PortChain(11211) {
		t.Errorf("pruned = %v", got)
	}
}

func TestApplyFailureRollsBack(t *testing.T) {
	tests := []struct {
		name   string
		before *firewall.Spec // installed before the failing apply; nil: nothing
		fail   netinfo.Family
	}{
		{"v6 fails from nothing", nil, netinfo.IPv6},
		{"v6 fails over installed", &specA, netinfo.IPv6},
		{"v4 fails over installed", &specA, netinfo.IPv4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := hostFake()
			if tc.before != nil {
				mustApply(t, f, *tc.before)
			}
			before := f.Snapshot()
			f.Fail = func(fam netinfo.Family, payload string, mode firewall.RestoreMode) error {
				if fam == tc.fail && mode == firewall.Load && strings.HasPrefix(payload, "# cachectl") {
					return errors.New("kernel said no")
				}
				return nil
			}
			_, err := firewall.Apply(ctx, f, specB, nil)
			if err == nil || !strings.Contains(err.Error(), "previous rules of every family were restored") {
				t.Fatalf("Apply = %v, want a failure with rollback", err)
			}
			if after := f.Snapshot(); !maps.Equal(before, after) {
				t.Errorf("tables changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestApplyCheckFailureChangesNothing(t *testing.T) {
	f := hostFake()
	mustApply(t, f, specA)
	before, loads := f.Snapshot(), len(f.Restores)
	f.Fail = func(fam netinfo.Family, _ string, mode firewall.RestoreMode) error {
		if fam == netinfo.IPv6 && mode == firewall.Check {
			return firewall.NewRestoreError(fam, firewall.Check, nil, "", errors.New("bad rule"))
		}
		return nil
	}
	_, err := firewall.Apply(ctx, f, specB, nil)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Apply = %v, want a check failure", err)
	}
	if len(f.Restores) != loads || !maps.Equal(before, f.Snapshot()) {
		t.Error("a failed check still loaded something")
	}
}

func TestApplyWithoutIPv6(t *testing.T) {
	f := firewalltest.New()
	f.Unavailable[netinfo.IPv6] = errors.New("ip6tables-restore not found")
	res := mustApply(t, f, specA)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "ipv6 skipped") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	if f.Snapshot()[netinfo.IPv6] != firewalltest.New().Snapshot()[netinfo.IPv6] {
		t.Error("ipv6 table was touched")
	}
	f.Unavailable[netinfo.IPv4] = errors.New("iptables-restore not found")
	if _, err := firewall.Apply(ctx, f, specA, nil); err == nil {
		t.Error("Apply without netinfo.IPv4 succeeded")
	}
}

func TestApplyRejectsInvalidSpec(t *testing.T) {
	f := firewalltest.New()
	if _, err := firewall.Apply(ctx, f, firewall.Spec{}, nil); !errors.Is(err, firewall.ErrInvalidSpec) {
		t.Errorf("Apply(firewall.Spec{}) = %v, want firewall.ErrInvalidSpec", err)
	}
	if len(f.Restores) != 0 {
		t.Error("something was loaded")
	}
}

func TestBadPayloadLeavesOldState(t *testing.T) {
	f := hostFake()
	mustApply(t, f, specA)
	before := f.Snapshot()
	payload := []byte("*filter\n:CACHECTL-INPUT - [0:0]\n-A CACHECTL-INPUT -j NO-SUCH-CHAIN\nCOMMIT\n")
	err := f.Restore(ctx, netinfo.IPv4, payload, firewall.Load)
	var re *firewall.RestoreError
	if !errors.As(err, &re) || re.Line != 3 {
		t.Fatalf("Restore = %v, want a firewall.RestoreError at line 3", err)
	}
	if !maps.Equal(before, f.Snapshot()) {
		t.Error("a failed payload changed the table")
	}
}

func TestRemoveRestoresTables(t *testing.T) {
	f := hostFake()
	before := f.Snapshot()
	mustApply(t, f, specB)
	removed, err := firewall.Remove(ctx, f)
	if err != nil || len(removed) != 2 {
		t.Fatalf("Remove = %v, %v", removed, err)
	}
	if !maps.Equal(before, f.Snapshot()) {
		t.Errorf("tables after remove differ:\n%v\n%v", before, f.Snapshot())
	}
	if removed, err := firewall.Remove(ctx, f); err != nil || len(removed) != 0 {
		t.Errorf("second firewall.Remove = %v, %v; want nothing to do", removed, err)
	}
}

var bigSpec = firewall.Spec{Port: 11211, Allow: append(firewall.Peers(firewall.SetThreshold+5), firewall.Peers6(firewall.SetThreshold+1)...), Loopback: true}

func TestApplyLargeAllowlistUsesSets(t *testing.T) {
	f := hostFake()
	before := f.Snapshot()
	mustApply(t, f, bigSpec)
	for _, fam := range netinfo.Families {
		if n := len(f.Sets()[firewall.SetName(fam)]); n != len(firewall.NewRuleset(bigSpec, fam).Sets[0].Members) {
			t.Errorf("%s set has %d members", fam, n)
		}
	}
	if len(f.Sets()) != 2 {
		t.Errorf("sets = %v, want only the two live sets (no temporaries)", f.Sets())
	}
	if st := statusOf(t, f, bigSpec); !st.OK() {
		t.Errorf("status after apply: %+v", st)
	}
	f.SetMembers(firewall.SetName(netinfo.IPv4), f.Sets()[firewall.SetName(netinfo.IPv4)][1:]...)
	if st := statusOf(t, f, bigSpec); st.OK() || !strings.Contains(st.Families[0].Diff.String(), "1 members missing") {
		t.Errorf("a member removed by hand is not reported: %s", st.Families[0].Diff)
	}
	mustApply(t, f, specA) // small again: the sets go
	if len(f.Sets()) != 0 {
		t.Errorf("sets left after shrinking the allowlist: %v", f.Sets())
	}
	mustApply(t, f, bigSpec)
	if _, err := firewall.Remove(ctx, f); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before, f.Snapshot()) {
		t.Errorf("remove left state behind:\n%v", f.Snapshot())
	}
}

func TestApplyLargeAllowlistRollsBackSets(t *testing.T) {
	for _, from := range []*firewall.Spec{nil, &specA, &bigSpec} {
		f := hostFake()
		if from != nil {
			mustApply(t, f, *from)
		}
		before := f.Snapshot()
		bigger := bigSpec
		bigger.Allow = append(firewall.Peers(firewall.SetThreshold+50), firewall.Peers6(firewall.SetThreshold+9)...)
		f.Fail = func(fam netinfo.Family, payload string, mode firewall.RestoreMode) error {
			if fam == netinfo.IPv6 && mode == firewall.Load && strings.HasPrefix(payload, "# cachectl") {
				return errors.New("kernel said no")
			}
			return nil
		}
		if _, err := firewall.Apply(ctx, f, bigger, nil); err == nil {
			t.Fatal("apply succeeded")
		}
		if after := f.Snapshot(); !maps.Equal(before, after) {
			t.Errorf("from %v: state changed:\nbefore %v\nafter  %v", from, before, after)
		}
	}
}

func TestApplyLargeAllowlistWithoutIPSet(t *testing.T) {
	f := hostFake()
	f.NoIPSet = errors.New("ipset not found")
	before := f.Snapshot()
	if _, err := firewall.Apply(ctx, f, bigSpec, nil); err == nil || !strings.Contains(err.Error(), "ipset") {
		t.Fatalf("Apply = %v, want an error naming ipset", err)
	}
	if !maps.Equal(before, f.Snapshot()) {
		t.Error("state changed")
	}
	mustApply(t, f, specA) // small lists never need it
}
