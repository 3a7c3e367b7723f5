package main

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/cachectl/cachectl/netinfo"
)

// listenHost is a literal snapshot: loopback and one NIC with IPv4, IPv6
// and a link-local address.
func listenHost() netinfo.Snapshot {
	a := func(p, zone string) netinfo.Address {
		pp := netip.MustParsePrefix(p)
		ad := pp.Addr()
		if zone != "" {
			ad = ad.WithZone(zone)
		}
		return netinfo.Address{Prefix: pp, Addr: ad}
	}
	return netinfo.Snapshot{Interfaces: []netinfo.Interface{
		{Name: "lo", Index: 1, AdminUp: true, OperState: "unknown", Loopback: true, Addrs: []netinfo.Address{a("127.0.0.1/8", ""), a("::1/128", "")}},
		{Name: "eth0", Index: 2, AdminUp: true, OperState: "up", Addrs: []netinfo.Address{a("10.0.0.5/24", ""), a("fd00::5/64", ""), a("fe80::1/64", "eth0")}},
	}}
}

func TestCheckListenFlags(t *testing.T) {
	lookup := func(host string) ([]netip.Addr, error) {
		switch host {
		case "localhost":
			return []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}, nil
		case "v6.example":
			return []netip.Addr{netip.MustParseAddr("fd00::5")}, nil
		case "client.example":
			return []netip.Addr{netip.MustParseAddr("10.0.0.9")}, nil
		}
		return nil, errors.New("no such host")
	}
	tests := []struct {
		name   string
		listen []string
		code   int    // exit code; 0 = accepted
		want   string // in the message
	}{
		{"no -l: every address", nil, 0, ""},
		{"wildcard", []string{"0.0.0.0,[::]"}, 0, ""},
		{"local v4 and v6 with ports", []string{"10.0.0.5:11300", "[fd00::5]", "fd00::5"}, 0, ""},
		{"loopback subnet", []string{"127.0.0.2"}, 0, ""},
		{"link-local with zone", []string{"[fe80::1%eth0]:11211"}, 0, ""},
		{"name resolving to loopback", []string{"localhost"}, 0, ""},
		{"name resolving to a local v6", []string{"v6.example"}, 0, ""},
		{"client address", []string{"10.0.0.5", "10.0.0.9"}, exitUsage, "10.0.0.9 is not an address of this host"},
		{"client address lists local ones", []string{"10.0.0.9"}, exitUsage, "cachectl allow 10.0.0.9"},
		{"name resolving to a client", []string{"client.example"}, exitUsage, "-l client.example resolves to 10.0.0.9"},
		{"unresolvable name", []string{"nosuch.example"}, exitUsage, "cannot resolve this name"},
		{"zoneless link-local", []string{"fe80::1"}, exitUsage, "needs the interface it is on"},
		{"bad port", []string{"10.0.0.5:http"}, exitUsage, "not a port number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gathered := 0
			gather := func() (netinfo.Snapshot, error) { gathered++; return listenHost(), nil }
			err := checkListenFlags(tt.listen, 11211, gather, lookup)
			if code := exitCode(err); code != tt.code {
				t.Fatalf("exit %d, want %d: %v", code, tt.code, err)
			}
			if tt.want != "" {
				mustContain(t, "error", err.Error(), tt.want)
			}
			if gathered > 1 {
				t.Errorf("read the host %d times; once is enough", gathered)
			}
		})
	}
}

func TestCheckListenFlagsReadsNetlinkOnlyWhenNeeded(t *testing.T) {
	gather := func() (netinfo.Snapshot, error) { return netinfo.Snapshot{}, errors.New("netlink unavailable") }
	if err := checkListenFlags([]string{"0.0.0.0", "[::]"}, 11211, gather, nil); err != nil {
		t.Errorf("wildcards needed a netlink read: %v", err)
	}
	err := checkListenFlags([]string{"10.0.0.5"}, 11211, gather, nil)
	if exitCode(err) != exitFailure {
		t.Errorf("netlink failure: exit %d, want %d (%v)", exitCode(err), exitFailure, err)
	}
}
