package firewall

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

var (
	ctx      = context.Background()
	specA    = Spec{Port: 11211, Allow: prefixes("10.0.0.1/32", "fd00::1/128"), Loopback: true}
	specB    = Spec{Port: 11211, UDPPort: 11211, Allow: prefixes("10.0.0.2/32"), Verdict: policy.VerdictDrop}
	hostRule = "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"
)

// hostFake is a fake whose INPUT already holds a rule of the host's own.
func hostFake() *fake {
	f := newFake()
	for _, t := range f.tables {
		t.rules["INPUT"] = []string{hostRule}
	}
	return f
}

func mustApply(t *testing.T, a Applier, s Spec) Result {
	t.Helper()
	res, err := Apply(ctx, a, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestApplyInstallsOwnedChainsOnly(t *testing.T) {
	f := hostFake()
	res := mustApply(t, f, specA)
	for _, fam := range netinfo.Families {
		tb := f.tables[fam]
		if got := tb.rules["INPUT"]; len(got) != 2 || got[0] != jumpLine() || got[1] != hostRule {
			t.Errorf("%s INPUT = %q, want the jump first and the host rule kept", fam, got)
		}
		want := NewRuleset(specA, fam)
		cur, _ := parseOwned([]byte(tb.save()))
		if d := Compare(want, cur.rules, cur.chains); !d.InSync() {
			t.Errorf("%s: %s", fam, d)
		}
	}
	if len(res.Families) != 2 || !res.Families[0].JumpInserted || !res.Families[1].Applied {
		t.Errorf("result = %+v", res)
	}
	for _, p := range f.restores {
		if !strings.HasPrefix(p, "# cachectl") && !strings.Contains(p, "-X ") {
			t.Errorf("unexpected payload loaded:\n%s", p)
		}
	}
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	f := hostFake()
	mustApply(t, f, specA)
	first := f.snapshotAll()
	res := mustApply(t, f, specA)
	if !equalSnapshots(first, f.snapshotAll()) {
		t.Error("second apply changed the tables")
	}
	for _, fr := range res.Families {
		if fr.JumpInserted {
			t.Errorf("%s: jump inserted again", fr.Family)
		}
	}
}

func TestApplyDeletesChainOfOldPort(t *testing.T) {
	f := newFake()
	mustApply(t, f, specA)
	moved := specA
	moved.Port = 11311
	res := mustApply(t, f, moved)
	if _, ok := f.tables[netinfo.IPv4].rules[PortChain(11211)]; ok {
		t.Error("chain of the old port is still there")
	}
	if got := res.Families[0].Pruned; len(got) != 1 || got[0] != PortChain(11211) {
		t.Errorf("pruned = %v", got)
	}
}

func TestApplyFailureRollsBack(t *testing.T) {
	tests := []struct {
		name   string
		before *Spec // installed before the failing apply; nil: nothing
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
			before := f.snapshotAll()
			f.fail = func(fam netinfo.Family, payload string, test bool) error {
				if fam == tc.fail && !test && strings.HasPrefix(payload, "# cachectl") {
					return errors.New("kernel said no")
				}
				return nil
			}
			_, err := Apply(ctx, f, specB, nil)
			if err == nil || !strings.Contains(err.Error(), "previous rules of every family were restored") {
				t.Fatalf("Apply = %v, want a failure with rollback", err)
			}
			if after := f.snapshotAll(); !equalSnapshots(before, after) {
				t.Errorf("tables changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestApplyCheckFailureChangesNothing(t *testing.T) {
	f := hostFake()
	mustApply(t, f, specA)
	before, loads := f.snapshotAll(), len(f.restores)
	f.fail = func(fam netinfo.Family, _ string, test bool) error {
		if fam == netinfo.IPv6 && test {
			return newRestoreError(fam, true, nil, "", errors.New("bad rule"))
		}
		return nil
	}
	_, err := Apply(ctx, f, specB, nil)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Apply = %v, want a check failure", err)
	}
	if len(f.restores) != loads || !equalSnapshots(before, f.snapshotAll()) {
		t.Error("a failed check still loaded something")
	}
}

func TestApplyWithoutIPv6(t *testing.T) {
	f := newFake()
	f.unavailable[netinfo.IPv6] = errors.New("ip6tables-restore not found")
	res := mustApply(t, f, specA)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "ipv6 skipped") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	if len(f.tables[netinfo.IPv6].order) != len(builtins) {
		t.Error("ipv6 table was touched")
	}
	f.unavailable[netinfo.IPv4] = errors.New("iptables-restore not found")
	if _, err := Apply(ctx, f, specA, nil); err == nil {
		t.Error("Apply without netinfo.IPv4 succeeded")
	}
}

func TestApplyRejectsInvalidSpec(t *testing.T) {
	f := newFake()
	if _, err := Apply(ctx, f, Spec{}, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("Apply(Spec{}) = %v, want ErrInvalidSpec", err)
	}
	if len(f.restores) != 0 {
		t.Error("something was loaded")
	}
}

func TestBadPayloadLeavesOldState(t *testing.T) {
	f := hostFake()
	mustApply(t, f, specA)
	before := f.snapshotAll()
	payload := []byte("*filter\n:CACHECTL-INPUT - [0:0]\n-A CACHECTL-INPUT -j NO-SUCH-CHAIN\nCOMMIT\n")
	err := f.Restore(ctx, netinfo.IPv4, payload, false)
	var re *RestoreError
	if !errors.As(err, &re) || re.Line != 3 {
		t.Fatalf("Restore = %v, want a RestoreError at line 3", err)
	}
	if !equalSnapshots(before, f.snapshotAll()) {
		t.Error("a failed payload changed the table")
	}
}

func TestRemoveRestoresTables(t *testing.T) {
	f := hostFake()
	before := f.snapshotAll()
	mustApply(t, f, specB)
	removed, err := Remove(ctx, f)
	if err != nil || len(removed) != 2 {
		t.Fatalf("Remove = %v, %v", removed, err)
	}
	if !equalSnapshots(before, f.snapshotAll()) {
		t.Errorf("tables after remove differ:\n%v\n%v", before, f.snapshotAll())
	}
	if removed, err := Remove(ctx, f); err != nil || len(removed) != 0 {
		t.Errorf("second Remove = %v, %v; want nothing to do", removed, err)
	}
}

var bigSpec = Spec{Port: 11211, Allow: append(peers(SetThreshold+5), peers6(SetThreshold+1)...), Loopback: true}

func TestApplyLargeAllowlistUsesSets(t *testing.T) {
	f := hostFake()
	before := f.snapshotAll()
	mustApply(t, f, bigSpec)
	for _, fam := range netinfo.Families {
		if n := len(f.sets[SetName(fam)]); n != len(NewRuleset(bigSpec, fam).Sets[0].Members) {
			t.Errorf("%s set has %d members", fam, n)
		}
	}
	if len(f.sets) != 2 {
		t.Errorf("sets = %v, want only the two live sets (no temporaries)", f.sets)
	}
	if st := statusOf(t, f, bigSpec); !st.OK() {
		t.Errorf("status after apply: %+v", st)
	}
	f.sets[SetName(netinfo.IPv4)] = f.sets[SetName(netinfo.IPv4)][1:]
	if st := statusOf(t, f, bigSpec); st.OK() || !strings.Contains(st.Families[0].Diff.String(), "1 members missing") {
		t.Errorf("a member removed by hand is not reported: %s", st.Families[0].Diff)
	}
	mustApply(t, f, specA) // small again: the sets go
	if len(f.sets) != 0 {
		t.Errorf("sets left after shrinking the allowlist: %v", f.sets)
	}
	mustApply(t, f, bigSpec)
	if _, err := Remove(ctx, f); err != nil {
		t.Fatal(err)
	}
	if !equalSnapshots(before, f.snapshotAll()) {
		t.Errorf("remove left state behind:\n%v", f.snapshotAll())
	}
}

func TestApplyLargeAllowlistRollsBackSets(t *testing.T) {
	for _, from := range []*Spec{nil, &specA, &bigSpec} {
		f := hostFake()
		if from != nil {
			mustApply(t, f, *from)
		}
		before := f.snapshotAll()
		bigger := bigSpec
		bigger.Allow = append(peers(SetThreshold+50), peers6(SetThreshold+9)...)
		f.fail = func(fam netinfo.Family, payload string, test bool) error {
			if fam == netinfo.IPv6 && !test && strings.HasPrefix(payload, "# cachectl") {
				return errors.New("kernel said no")
			}
			return nil
		}
		if _, err := Apply(ctx, f, bigger, nil); err == nil {
			t.Fatal("apply succeeded")
		}
		if after := f.snapshotAll(); !equalSnapshots(before, after) {
			t.Errorf("from %v: state changed:\nbefore %v\nafter  %v", from, before, after)
		}
	}
}

func TestApplyLargeAllowlistWithoutIPSet(t *testing.T) {
	f := hostFake()
	f.noIPSet = errors.New("ipset not found")
	before := f.snapshotAll()
	if _, err := Apply(ctx, f, bigSpec, nil); err == nil || !strings.Contains(err.Error(), "ipset") {
		t.Fatalf("Apply = %v, want an error naming ipset", err)
	}
	if !equalSnapshots(before, f.snapshotAll()) {
		t.Error("state changed")
	}
	mustApply(t, f, specA) // small lists never need it
}
