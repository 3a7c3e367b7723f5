package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"

	"github.com/vishvananda/netns"

	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

// loadAuditRules reads the policy into the audit's rules: the bound port(s)
// and addresses, and the allowlist as the judge of each peer.
func loadAuditRules(opts auditOptions) (auditRules, error) {
	p, err := policy.Load(opts.policy)
	if err != nil {
		var pe *policy.ParseError
		var ve *policy.ValidationError
		if errors.As(err, &pe) || errors.As(err, &ve) || errors.Is(err, fs.ErrNotExist) {
			return auditRules{}, usageErrorf("audit: reading policy: %w (fix the file, or pass --policy FILE)", err)
		}
		return auditRules{}, fmt.Errorf("audit: reading policy: %w", err)
	}
	// One look at the host's addresses serves the judge, the bound
	// addresses and the fallback to every address.
	snap, err := gatherIn(opts.netns)
	if err != nil {
		return auditRules{}, fmt.Errorf("audit: listing local addresses: %w", err)
	}
	local := snap.LocalAddrs()
	judge := p.Judge(local)
	r := audit.Rules{Port: p.Bind.Port, UDPPort: p.Bind.UDPPort, Local: boundAddrs(p, snap), Permits: judge}
	if opts.port != 0 {
		r.Port = uint16(opts.port)
	}
	if len(r.Local) == 0 {
		// Bound to everything: any address of this host. Conntrack
		// addresses carry no zone.
		for _, a := range local {
			r.Local = append(r.Local, a.WithZone(""))
		}
	}
	d, err := daemonAddr(opts.daemon, r.Local, r.Port)
	if err != nil {
		return auditRules{}, err
	}
	ar := auditRules{rules: r, daemon: d, policy: p}
	// Querying the daemon from a local address the policy does not permit
	// would itself put a violating flow in the table for the next audit.
	if opts.daemon == daemonAuto {
		if _, ok := judge(d.Addr()); !ok {
			ar.daemon = netip.AddrPort{}
			ar.skipDaemon = fmt.Errorf("skipped: the query would come from %s, which the policy does not permit", d.Addr())
		}
	}
	return ar, nil
}

// boundAddrs is where the daemon listens according to the policy: its
// recorded addresses plus the current addresses of its interfaces (what
// "cachectl bind --iface" resolves them to). Empty means every address.
func boundAddrs(p *policy.Policy, snap netinfo.Snapshot) []netip.Addr {
	out := slices.Clone(p.Bind.Addresses)
	local := snap.LocalAddrs()
	for _, name := range p.Bind.Interfaces {
		if ifc, ok := snap.Interface(name); ok {
			for _, a := range ifc.Addrs {
				if !a.Pending() && slices.Contains(local, a.Addr) {
					out = append(out, a.Addr.WithZone(""))
				}
			}
		}
	}
	return out
}

// gatherIn reads the addresses of the named network namespace ("" = this
// one) over netlink.
func gatherIn(name string) (netinfo.Snapshot, error) {
	if name == "" {
		return netinfo.Gather()
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return netinfo.Snapshot{}, fmt.Errorf("network namespace %q: %w", name, err)
	}
	defer h.Close()
	return netinfo.GatherIn(h)
}
