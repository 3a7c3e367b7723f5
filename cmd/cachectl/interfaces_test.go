package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo"
)

// The -update flag regenerates golden files. Other command tests in this
// package may define it too, so it is registered only if still missing.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updateGolden() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./cmd/cachectl -run %s -update' to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden (rerun with -update if intended):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines that differ, marked - (golden) and + (got).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("-" + wl + "\n+" + gl + "\n")
		}
	}
	return b.String()
}

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
	checkGolden(t, "interfaces.txt", out.Bytes())
}

func TestInterfacesJSONGolden(t *testing.T) {
	var out bytes.Buffer
	if err := (printer{w: &out, json: true}).print(interfacesView(listingHost()), nil); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "interfaces.json", out.Bytes())
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
