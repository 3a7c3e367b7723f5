package firewall

import (
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

// TestNoLegacyTableCreated: on an nf_tables host, reading the legacy
// backend's filter table with iptables-legacy-save creates it, which makes
// every later iptables command warn. Status, apply and remove must leave a
// fresh namespace without any legacy table.
func TestNoLegacyTableCreated(t *testing.T) {
	ns := nstest.New(t)
	a := realApplier(t, ns)
	if env, err := a.Environment(ctx, netinfo.IPv4); err != nil || env.Backend != "nf_tables" {
		t.Skipf("iptables backend is %q (%v), not nf_tables", env.Backend, err)
	}
	legacy := func(when string) {
		t.Helper()
		for _, f := range []string{"/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"} {
			out, _ := ns.Run("cat", f) // a missing file means no table either
			if strings.TrimSpace(out) != "" && !strings.Contains(out, "No such file") {
				t.Errorf("%s: %s lists %q", when, f, strings.TrimSpace(out))
			}
		}
	}
	legacy("fresh namespace")
	spec := Spec{Port: testPort, Allow: Prefixes("10.0.0.1/32", "fd00::1/128"), Loopback: true}
	if _, err := ReadStatus(ctx, a, spec); err != nil {
		t.Fatal(err)
	}
	legacy("after status")
	if _, err := Apply(ctx, a, spec, nil); err != nil {
		t.Fatal(err)
	}
	legacy("after apply")
	if _, err := ReadStatus(ctx, a, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := Remove(ctx, a); err != nil {
		t.Fatal(err)
	}
	legacy("after status and remove")
}
