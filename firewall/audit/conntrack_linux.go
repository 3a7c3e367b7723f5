package audit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"

	"github.com/cachectl/cachectl/firewall"
)

// Reader reads one network namespace's conntrack table. It is the seam
// between the kernel and the pure audit: everything it returns is already
// in this package's types.
type Reader struct {
	c     *conntrack.Conn // for the table's statistics
	d     *dumper         // for the dumps, streamed
	netns string          // the namespace's name, for reading its firewall rules
}

// Open dials ctnetlink in the namespace behind nsFD (an open netns handle),
// or in the caller's namespace when nsFD is 0. Passing the fd opens the
// socket there without switching the thread's namespace.
func Open(nsFD int) (*Reader, error) {
	c, err := conntrack.Dial(&netlink.Config{NetNS: nsFD})
	if err != nil {
		return nil, fmt.Errorf("opening conntrack netlink socket: %w", err)
	}
	d, err := dialDumper(nsFD)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Reader{c: c, d: d}, nil
}

// OpenNamed opens the conntrack table of the named network namespace (as
// `ip netns` names it), or of the caller's namespace for "".
func OpenNamed(name string) (*Reader, error) {
	if name == "" {
		return Open(0)
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %q: %w", name, err)
	}
	defer h.Close() // the socket keeps the namespace it was opened in
	r, err := Open(int(h))
	if err != nil {
		return nil, err
	}
	r.netns = name
	return r, nil
}

// Tracking implements Source: ProbeTracking with the rules of the
// reader's own namespace.
func (r *Reader) Tracking(ctx context.Context, dumpErr error, flows int) Tracking {
	return r.ProbeTracking(dumpErr, flows, func() (string, error) { return SaveRules(ctx, r.netns) })
}

// Close releases the netlink sockets.
func (r *Reader) Close() error { return errors.Join(r.d.Close(), r.c.Close()) }

// Flows dumps the whole table, both families, into a slice.
func (r *Reader) Flows() ([]Flow, error) {
	var out []Flow
	if _, err := r.d.dump(0, nil, func(f *Flow) { out = append(out, *f) }); err != nil {
		return nil, fmt.Errorf("dumping conntrack table: %w", err)
	}
	return out, nil
}

// fromKernel converts at the edge: netip stays, the rest becomes ours.
func fromKernel(k *conntrack.Flow) Flow {
	f := Flow{
		Proto: Proto(k.TupleOrig.Proto.Protocol),
		Orig: Tuple{
			Src: netip.AddrPortFrom(k.TupleOrig.IP.SourceAddress, k.TupleOrig.Proto.SourcePort),
			Dst: netip.AddrPortFrom(k.TupleOrig.IP.DestinationAddress, k.TupleOrig.Proto.DestinationPort),
		},
		Reply: Tuple{
			Src: netip.AddrPortFrom(k.TupleReply.IP.SourceAddress, k.TupleReply.Proto.SourcePort),
			Dst: netip.AddrPortFrom(k.TupleReply.IP.DestinationAddress, k.TupleReply.Proto.DestinationPort),
		},
		Assured:       k.Status.Assured(),
		SeenReply:     k.Status.SeenReply(),
		OrigCounters:  firewall.Counters{Packets: k.CountersOrig.Packets, Bytes: k.CountersOrig.Bytes},
		ReplyCounters: firewall.Counters{Packets: k.CountersReply.Packets, Bytes: k.CountersReply.Bytes},
		Timeout:       time.Duration(k.Timeout) * time.Second,
	}
	if k.ProtoInfo.TCP != nil {
		f.TCPState = TCPState(k.ProtoInfo.TCP.State)
	}
	return f
}

// ProbeTracking finds out whether the table can be trusted to be complete.
// flows is the number of flows the dump returned (dumpErr its error, if
// any); rules returns the namespace's firewall rules as text (see
// SaveRules), or an error when they cannot be read.
func (r *Reader) ProbeTracking(dumpErr error, flows int, rules func() (string, error)) Tracking {
	if dumpErr != nil {
		return Tracking{Reason: dumpErr.Error()}
	}
	t := Tracking{Available: true, Entries: flows}
	if g, err := r.c.StatsGlobal(); err == nil && int(g.Entries) > t.Entries {
		t.Entries = int(g.Entries)
	}
	if t.Entries > 0 {
		// Something is tracked, so the hooks are in place: the rules
		// would tell nothing more, and reading them costs three programs.
		return t
	}
	text, err := rules()
	if err != nil {
		t.RulesReason = err.Error()
		return t
	}
	t.RulesChecked = true
	t.ConntrackRules = CountConntrackRules(text)
	return t
}

// SaveRules reads a namespace's firewall (the caller's for "") as text: iptables-save,
// ip6tables-save and, when nft is installed, nft list ruleset (native nft
// tables such as firewalld's are invisible to iptables-save). It fails only
// when none of them could be read.
func SaveRules(ctx context.Context, netns string) (string, error) {
	var b strings.Builder
	var errs []error
	for _, argv := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"nft", "list", "ruleset"}} {
		if netns != "" {
			argv = append([]string{"ip", "netns", "exec", netns}, argv...)
		}
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", strings.Join(argv, " "), err))
			continue
		}
		b.Write(out)
	}
	if b.Len() == 0 && len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return b.String(), nil
}

// conntrackUsers are rule fragments that make the kernel register its
// conntrack hooks in a namespace: stateful matches, NAT, CT targets.
var conntrackUsers = []string{
	"-m conntrack", "-m state", "-m connmark", "-j CONNMARK", "-j CT", "-m connlimit",
	"-j DNAT", "-j SNAT", "-j MASQUERADE", "-j REDIRECT",
	" ct state ", " ct status ", " ct mark ", " dnat ", " snat ", " masquerade",
}

// CountConntrackRules counts the lines of iptables-save / nft output that
// need conntrack. A nat table counts too: NAT hooks pull conntrack in.
func CountConntrackRules(text string) int {
	n := 0
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "*nat" || strings.HasPrefix(line, "type nat ") {
			n++
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, u := range conntrackUsers {
			if strings.Contains(" "+line+" ", u) {
				n++
				break
			}
		}
	}
	return n
}
