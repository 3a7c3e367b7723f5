package audit

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report for people: one line per peer, the blocked
// counters, the findings with their fixes, and a summary line last.
func (rep *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Peers) > 0 {
		fmt.Fprintln(tw, "PEER\tVERDICT\tPOLICY ENTRY\tFLOWS\tSTATES\tENDPOINT\tTRAFFIC")
	}
	for _, p := range rep.Peers {
		entry := p.Entry
		if entry == "" {
			entry = "-"
		}
		endpoint := strings.Join(p.Targets, ",")
		if len(p.Dialled) > 0 {
			endpoint += " (dialled " + strings.Join(p.Dialled, ",") + ")"
		}
		traffic := "-"
		if rep.Accounting {
			traffic = fmt.Sprintf("in %d pkts/%d B, out %d pkts/%d B", p.FromPeer.Packets, p.FromPeer.Bytes, p.ToPeer.Packets, p.ToPeer.Bytes)
		}
		verdict := string(p.Verdict)
		if p.Verdict == Violation {
			verdict = "VIOLATION"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", p.Addr, verdict, entry, p.Flows, states(p.States), endpoint, traffic)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Peers) > 0 && !rep.Accounting {
		fmt.Fprintln(w, "(no traffic counters: sysctl net.netfilter.nf_conntrack_acct=1 turns them on for new flows)")
	}
	for _, b := range rep.Blocked {
		fmt.Fprintf(w, "blocked by the firewall (%s): %d packets, %d bytes\n", b.Family, b.Packets, b.Bytes)
	}
	if rep.Source.Kind != "" {
		fmt.Fprintln(w, rep.Source.Text())
	}
	if rep.Dump.Filter != "" {
		fmt.Fprintln(w, rep.Dump.Text())
	}
	for _, f := range rep.Findings {
		peer := ""
		if f.Peer != "" {
			peer = " " + f.Peer
		}
		fmt.Fprintf(w, "%s %s%s: %s\n", strings.ToUpper(string(f.Severity)), f.Kind, peer, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "  fix: %s\n", f.Fix)
		}
	}
	_, err := fmt.Fprintln(w, rep.SummaryLine())
	return err
}

// SummaryLine is the report in one line, ending in its verdict.
func (rep *Report) SummaryLine() string {
	s := rep.Summary
	ports := fmt.Sprintf("port %d/tcp", rep.Port)
	if rep.UDPPort != 0 {
		ports += fmt.Sprintf(", %d/udp", rep.UDPPort)
	}
	verdict := "OK: every connected peer is permitted"
	switch {
	case rep.Violated():
		verdict = "VIOLATION"
	case rep.Incomplete():
		verdict = "INCOMPLETE: the audit cannot vouch for the connection table"
	}
	return fmt.Sprintf("audit %s: %d peer(s), %d permitted, %d violation(s), %d flow(s) (%d established), %d blocked packet(s): %s",
		ports, s.Peers, s.Permitted, s.Violations, s.Flows, s.Established, s.BlockedPackets, verdict)
}

// states renders a state histogram as "ESTABLISHED=2,TIME_WAIT=1".
func states(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}
