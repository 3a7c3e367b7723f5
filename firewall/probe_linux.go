package firewall

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/coreos/go-iptables/iptables"

	"github.com/cachectl/cachectl/netinfo"
)

// IPTablesProbe checks the skeleton with `iptables -C` through go-iptables:
// a few short execs per family that read one chain each, never the whole
// table, with the xtables lock waited on for at most lockWait seconds
// (go-iptables' default is to wait forever). It probes the namespace the
// process runs in.
type IPTablesProbe struct {
	mu  sync.Mutex
	ipt map[netinfo.Family]*iptables.IPTables
}

// NewIPTablesProbe prepares a probe; each family's iptables is looked up
// when first probed.
func NewIPTablesProbe() *IPTablesProbe {
	return &IPTablesProbe{ipt: map[netinfo.Family]*iptables.IPTables{}}
}

func (p *IPTablesProbe) handle(f netinfo.Family) (*iptables.IPTables, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.ipt[f]; h != nil {
		return h, nil
	}
	proto := iptables.ProtocolIPv4
	if f == netinfo.IPv6 {
		proto = iptables.ProtocolIPv6
	}
	h, err := iptables.New(iptables.IPFamily(proto), iptables.Timeout(lockWait))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Binary(f), err)
	}
	p.ipt[f] = h
	return h, nil
}

// Missing runs one `iptables -C` per skeleton rule. A chain that is gone
// makes -C fail with "No chain/target/match", which is a missing rule too.
func (p *IPTablesProbe) Missing(ctx context.Context, rs Ruleset) ([]string, error) {
	h, err := p.handle(rs.Family)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, pt := range skeleton(rs) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ok, err := h.Exists(Table, pt.rule.Chain, pt.rule.Spec()...)
		var ipErr *iptables.Error
		if errors.As(err, &ipErr) && ipErr.IsNotExist() {
			ok, err = false, nil
		}
		if err != nil {
			return nil, fmt.Errorf("probing %s %s: %w", rs.Family, pt.what, err)
		}
		if !ok {
			missing = append(missing, pt.what)
		}
	}
	return missing, nil
}
