package netinfo

import (
	"net/netip"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// TestPathToInNamespace builds an asymmetric host for real: the peer's
// network is routed out of rb0 while its packets would arrive on ra0,
// and strict rp_filter is set on ra0 only, so the per-interface value and
// "all" are read from the namespace, not from the test's own.
func TestPathToInNamespace(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	other := nstest.New(t)
	ra, _ := nstest.Link(t, ns, other, []netip.Prefix{pfx("10.62.1.2/24")}, []netip.Prefix{pfx("10.62.1.1/24")})
	rb, _ := nstest.Link(t, ns, other, []netip.Prefix{pfx("10.62.2.2/24")}, []netip.Prefix{pfx("10.62.2.1/24")})
	ns.MustRun("ip", "route", "add", "10.62.9.0/24", "via", "10.62.2.1", "dev", rb)
	ns.MustRun("ip", "route", "add", "unreachable", "10.62.66.0/24")
	ns.MustRun("sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0")
	ns.MustRun("sysctl", "-q", "-w", "net.ipv4.conf."+ra+".rp_filter=1")
	src := In(ns.Handle())

	p, err := src.PathTo(netip.MustParseAddr("10.62.9.1"))
	if err != nil {
		t.Fatal(err)
	}
	want := Route{Iface: rb, Src: netip.MustParseAddr("10.62.2.2"), Gateway: netip.MustParseAddr("10.62.2.1"), Type: "unicast"}
	if p.Route != want {
		t.Errorf("route %+v, want %+v", p.Route, want)
	}
	if p.RPFilter == nil || p.RPFilter.All != 0 || p.RPFilter.Iface[ra] != 1 || p.RPFilter.Iface[rb] != 0 {
		t.Fatalf("rp_filter %+v, want all=0 %s=1 %s=0", p.RPFilter, ra, rb)
	}
	if c, _ := p.ReversePath(ra); !c.Drops {
		t.Errorf("arriving on %s: %+v, want dropped", ra, c)
	}

	local, err := src.PathTo(netip.MustParseAddr("10.62.1.2"))
	if err != nil || local.Route.Type != "local" || local.Route.Iface != "lo" {
		t.Errorf("own address: %+v, %v; want a local route on lo", local.Route, err)
	}
	gone, err := src.PathTo(netip.MustParseAddr("10.62.66.1"))
	if err != nil || gone.Route.Reachable() || gone.Route.Err == "" {
		t.Errorf("unreachable route: %+v, %v; want the kernel's refusal", gone.Route, err)
	}
	v6, err := src.PathTo(netip.MustParseAddr("fd00:62::1"))
	if err != nil || v6.RPFilter != nil || v6.Route.Err == "" {
		t.Errorf("IPv6 without a route: %+v, %v; want no route and no rp_filter", v6, err)
	}
}
