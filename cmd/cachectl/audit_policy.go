package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/cachectl/cachectl/firewall/audit"
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
	r := audit.Rules{Port: p.Bind.Port, UDPPort: p.Bind.UDPPort, Local: p.Bind.Addresses, Permits: p.Permits}
	if opts.port != 0 {
		r.Port = uint16(opts.port)
	}
	if len(r.Local) == 0 {
		// Bound to interfaces or to everything: any address of this host.
		if r.Local, err = hostAddrs(); err != nil {
			return auditRules{}, fmt.Errorf("audit: %w", err)
		}
	}
	d, err := daemonAddr(opts.daemon, p.Bind.Addresses, r.Port)
	if err != nil {
		return auditRules{}, err
	}
	return auditRules{rules: r, daemon: d}, nil
}
