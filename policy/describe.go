package policy

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Describe writes p for people, the way `cachectl policy show` prints it:
// who may connect first, then the local listening side, then enforcement.
func (p *Policy) Describe(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Peers allowed to connect:")
	n := 0
	if p.Peers.AllowLoopback {
		fmt.Fprintf(tw, "  %s\t127.0.0.0/8, ::1\n", LoopbackEntry)
		n++
	}
	for _, e := range p.Peers.Allowed {
		var note []string
		if e.Comment != "" {
			note = append(note, e.Comment)
		}
		if !e.Added.IsZero() {
			note = append(note, "added "+e.Added.UTC().Format(time.RFC3339))
		}
		if len(note) == 0 {
			fmt.Fprintf(tw, "  %s\n", e.Prefix)
		} else {
			fmt.Fprintf(tw, "  %s\t%s\n", e.Prefix, strings.Join(note, ", "))
		}
		n++
	}
	if n == 0 {
		fmt.Fprintln(tw, "  nobody (not even loopback)")
	}
	for _, e := range p.Peers.Allowed {
		if e.Prefix.Bits() == 0 {
			fmt.Fprintf(tw, "  WARNING: %s lets every peer connect\n", e.Prefix)
		}
	}
	fmt.Fprintln(tw, "Listening (local side; memcached's -l/-p/-U, not who may connect):")
	fmt.Fprintf(tw, "  interfaces\t%s\n", listOr(p.Bind.Interfaces, "(not set)"))
	var addrs []string
	for _, a := range p.Bind.Addresses {
		addrs = append(addrs, a.String())
	}
	fmt.Fprintf(tw, "  addresses\t%s\n", listOr(addrs, "(not set)"))
	fmt.Fprintf(tw, "  tcp port\t%d\n", p.Bind.Port)
	if p.Bind.UDPPort == 0 {
		fmt.Fprintf(tw, "  udp port\toff\n")
	} else {
		fmt.Fprintf(tw, "  udp port\t%d\n", p.Bind.UDPPort)
	}
	fmt.Fprintln(tw, "Firewall:")
	if p.Firewall.Managed {
		fmt.Fprintf(tw, "  managed by cachectl, others get %s\n", p.Firewall.Verdict)
	} else {
		fmt.Fprintf(tw, "  not managed by cachectl (verdict %s when enabled)\n", p.Firewall.Verdict)
	}
	d := p.Daemon
	fmt.Fprintln(tw, "Daemon defaults:")
	fmt.Fprintf(tw, "  memory\t%d MB\n  connections\t%d\n  threads\t%d\n  max item size\t%s\n",
		d.MemoryLimitMB, d.MaxConnections, d.Threads, d.MaxItemSize)
	return tw.Flush()
}

func listOr(xs []string, none string) string {
	if len(xs) == 0 {
		return none
	}
	return strings.Join(xs, ", ")
}

// MarshalJSON writes p with stable snake_case fields and empty lists as [],
// never null, so scripts need no special case (`policy show --json`).
func (p *Policy) MarshalJSON() ([]byte, error) {
	type plain Policy // drops this method, keeps the tags
	q := plain(*p)
	q.idx = nil
	q.Bind.Interfaces = nonNil(q.Bind.Interfaces)
	q.Bind.Addresses = nonNil(q.Bind.Addresses)
	q.Peers.Allowed = nonNil(q.Peers.Allowed)
	return json.Marshal(q)
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
