package main

import (
	"fmt"
	"testing"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo"
)

func TestBlockedCounts(t *testing.T) {
	st := firewall.Status{Families: []firewall.FamilyStatus{
		{Family: netinfo.IPv4, Available: true, Installed: true, Rules: []firewall.RuleCounter{
			{Verdict: "cachectl-p11211", Counters: firewall.Counters{Packets: 50, Bytes: 5000}},
			{Verdict: "accept", Counters: firewall.Counters{Packets: 40, Bytes: 4000}},
			{Verdict: "reject", Counters: firewall.Counters{Packets: 3, Bytes: 180}},
			{Verdict: "drop", Counters: firewall.Counters{Packets: 1, Bytes: 60}},
		}},
		{Family: netinfo.IPv6, Available: true},
	}}
	blocked, missing := blockedCounts(st)
	if got := fmt.Sprint(blocked); got != "[{ipv4 {4 240}}]" {
		t.Errorf("blocked = %s, want [{ipv4 {4 240}}]", got)
	}
	if len(missing) != 1 || missing[0].family != netinfo.IPv6 {
		t.Errorf("missing = %+v, want ipv6 (not installed)", missing)
	}
}
