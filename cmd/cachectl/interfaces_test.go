package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"

	"github.com/cachectl/cachectl/netinfo"
)

// listingHost has one interface in each state the listing distinguishes.
func listingHost() netinfo.Snapshot {
	a := func(p, zone string, sc netinfo.Scope, f func(*netinfo.Address)) netinfo.Address {
		pp := netip.MustParsePrefix(p)
		ad := netinfo.Address{Prefix: pp, Addr: pp.Addr(), Scope: sc, Permanent: true}
		if zone != "" {
			ad.Addr = ad.Addr.WithZone(zone)
		}
		if f != nil {
			f(&ad)
		}
		return ad
	}
	return netinfo.Snapshot{Interfaces: []netinfo.Interface{
		{Name: "lo", Index: 1, Kind: "device", AdminUp: true, OperState: "unknown", Loopback: true, Addrs: []netinfo.Address{
			a("127.0.0.1/8", "", netinfo.ScopeHost, nil), a("::1/128", "", netinfo.ScopeHost, nil),
		}},
		{Name: "eth0", Index: 2, Kind: "device", AdminUp: true, OperState: "up", Addrs: []netinfo.Address{
			a("10.0.0.5/24", "", netinfo.ScopeGlobal, nil),
			a("10.0.0.6/24", "", netinfo.ScopeGlobal, func(ad *netinfo.Address) { ad.Secondary = true }),
			a("fd00::5/64", "", netinfo.ScopeGlobal, func(ad *netinfo.Address) { ad.Permanent, ad.Deprecated = false, true }),
			a("fd00::7/64", "", netinfo.ScopeGlobal, func(ad *netinfo.Address) { ad.Tentative = true }),
			a("fd00::8/64", "", netinfo.ScopeGlobal, func(ad *netinfo.Address) { ad.Tentative, ad.DADFailed = true, true }),
			a("fe80::1/64", "eth0", netinfo.ScopeLink, nil),
		}},
		{Name: "veth1", Index: 3, Kind: "veth", AdminUp: true, OperState: "lowerlayerdown", Addrs: []netinfo.Address{
			a("192.168.8.1/24", "", netinfo.ScopeGlobal, nil),
		}},
		{Name: "br0", Index: 4, Kind: "bridge", AdminUp: false, OperState: "down", Addrs: []netinfo.Address{
			a("192.168.9.1/24", "", netinfo.ScopeGlobal, nil),
		}},
		{Name: "empty0", Index: 5, Kind: "veth", AdminUp: true, OperState: "up"},
	}}
}

func TestInterfacesTextGolden(t *testing.T) {
	var out bytes.Buffer
	if err := renderInterfaces(&out, listingHost()); err != nil {
		t.Fatal(err)
	}
	nstest.Golden(t, "interfaces.txt", out.Bytes())
}

func TestInterfacesJSONGolden(t *testing.T) {
	var out bytes.Buffer
	if err := (printer{w: &out, json: true}).print(interfacesView(listingHost()), nil); err != nil {
		t.Fatal(err)
	}
	nstest.Golden(t, "interfaces.json", out.Bytes())
}

// TestInterfacesCommandJSON runs the command in-process against this host;
// it only reads netlink, so it is safe anywhere, and every host has lo.
func TestInterfacesCommandJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"interfaces", "--json"}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d, stderr: %s", code, stderr.String())
	}
	var doc interfacesJSON
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	for _, ifc := range doc.Interfaces {
		if ifc.Loopback {
			return
		}
	}
	t.Errorf("no loopback interface in %s", stdout.String())
}

func TestInterfacesRejectsArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"interfaces", "eth0"}, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, stderr.String())
	}
}
