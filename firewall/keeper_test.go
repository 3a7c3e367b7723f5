package firewall_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/firewalltest"
	"github.com/cachectl/cachectl/netinfo"
)

// newKeeper keeps spec (read through *spec, so a test can change the
// policy file's content) in f, probing through f's save.
func newKeeper(f *firewalltest.Fake, spec *firewall.Spec) *firewall.Keeper {
	return &firewall.Keeper{
		Applier: f,
		Probe:   firewall.SaveProbe{Applier: f},
		Spec:    func() (firewall.Spec, error) { return *spec, nil },
	}
}

func TestKeeperRepairs(t *testing.T) {
	portChain := firewall.PortChain(11211)
	tests := []struct {
		name    string
		damage  func(f *firewalltest.Fake)
		missing bool
	}{
		{"untouched", func(*firewalltest.Fake) {}, false},
		{"iptables -F", func(f *firewalltest.Fake) {
			for _, c := range []string{"INPUT", firewall.InputChain, portChain} {
				f.SetRules(netinfo.IPv4, c)
			}
		}, true},
		{"iptables -F; iptables -X (or a firewalld reload)", func(f *firewalltest.Fake) { f.Flush(netinfo.IPv6) }, true},
		{"only the jump deleted", func(f *firewalltest.Fake) { f.SetRules(netinfo.IPv4, "INPUT") }, true},
		{"only the port chain flushed", func(f *firewalltest.Fake) { f.SetRules(netinfo.IPv6, portChain) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := firewalltest.New()
			spec := specA
			k := newKeeper(f, &spec)
			if err := k.Start(ctx); err != nil {
				t.Fatal(err)
			}
			want := f.Snapshot()
			tc.damage(f)
			if got := k.Check(ctx); got != tc.missing {
				t.Fatalf("Check re-applied = %v, want %v", got, tc.missing)
			}
			if got := f.Snapshot(); !maps.Equal(got, want) {
				t.Errorf("after the repair the tables are\n%v\nwant\n%v", got, want)
			}
			st := k.State()
			if wantN := uint64(map[bool]int{true: 1}[tc.missing]); st.Reapplies != wantN || !st.InPlace || st.Checks != 1 {
				t.Errorf("state %+v, want %d reapplies, in place, 1 check", st, wantN)
			}
		})
	}
}

// TestKeeperRepairsWithTheFilesAllowlist: a repair loads what the policy
// file says now, not the allowlist the keeper last knew.
func TestKeeperRepairsWithTheFilesAllowlist(t *testing.T) {
	f := firewalltest.New()
	spec := specA
	k := newKeeper(f, &spec)
	if err := k.Start(ctx); err != nil {
		t.Fatal(err)
	}
	spec = specB // the file changed; the daemon has not reloaded yet
	f.Flush(netinfo.IPv4)
	if !k.Check(ctx) {
		t.Fatal("flushed rules were not re-applied")
	}
	if st, err := firewall.ReadStatus(ctx, f, specB); err != nil || !st.OK() {
		t.Errorf("after the repair the tables do not match the file's policy: %+v, %v", st, err)
	}
}

// TestKeeperReportsFailure: a repair that cannot load is reported in the
// state, not counted, and the next check tries again.
func TestKeeperReportsFailure(t *testing.T) {
	f := firewalltest.New()
	spec := specA
	k := newKeeper(f, &spec)
	if err := k.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.Flush(netinfo.IPv4)
	f.Fail = func(netinfo.Family, string, firewall.RestoreMode) error { return errors.New("xtables lock held") }
	if k.Check(ctx) {
		t.Fatal("Check reported a repair that failed")
	}
	if st := k.State(); st.InPlace || st.Reapplies != 0 || st.LastError == "" {
		t.Errorf("state after a failed repair: %+v", st)
	}
	f.Fail = nil
	if !k.Check(ctx) || k.State().Reapplies != 1 {
		t.Errorf("the next check did not repair: %+v", k.State())
	}
}

// TestKeeperRunsOnEvents: an event makes the keeper check at once, long
// before its poll.
func TestKeeperRunsOnEvents(t *testing.T) {
	f := firewalltest.New()
	spec := specA
	k := newKeeper(f, &spec)
	if err := k.Start(ctx); err != nil {
		t.Fatal(err)
	}
	events := make(chan struct{}, 1)
	k.Events, k.Interval = events, time.Hour
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { k.Run(runCtx); close(done) }()
	events <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for k.State().Checks == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no check after an event")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if !k.State().Events {
		t.Error("state does not say the keeper follows events")
	}
}
