package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/netinfo"
	"github.com/cachectl/cachectl/policy"
)

// firewallSpec is the one place the policy is turned into what the
// firewall renders.
func firewallSpec(p *policy.Policy) firewall.Spec {
	return firewall.Spec{
		Port:     p.Bind.Port,
		UDPPort:  p.Bind.UDPPort,
		Allow:    p.Prefixes(),
		Loopback: p.LoopbackAllowed(),
		Verdict:  p.Firewall.Verdict,
	}
}

// addNetnsFlag lets a firewall command work inside a named network
// namespace (`ip netns exec NAME iptables...`), for hosts that run the
// cache in one and for tests; CACHECTL_NETNS sets the default.
func addNetnsFlag(a *app, cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "netns", a.getenv("CACHECTL_NETNS"), "network namespace whose firewall to manage (env CACHECTL_NETNS)")
}

// withApplier runs fn with the app's iptables applier for netns ("" = this
// host's namespace).
func (a *app) withApplier(netns string, fn func(firewall.Applier) error) error {
	ap, err := a.applier(netns)
	if err != nil {
		return usageError(err)
	}
	return fn(ap)
}

// loadPolicyForFirewall reads the policy; a missing file yields the
// default only when allowed (printing never changes anything; loading the
// secure default because of a mistyped path would cut every peer off).
func loadPolicyForFirewall(a *app, path string, missingOK bool) (*policy.Policy, error) {
	p, err := policy.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !missingOK {
			return nil, usageErrorf("policy %s does not exist; create it with 'cachectl policy init' or pass --policy FILE", path)
		}
		fmt.Fprintf(a.stderr, "note: policy %s does not exist; using the default policy (loopback only)\n", path)
		return policy.Default(), nil
	}
	if err != nil {
		return nil, policyFileError(err)
	}
	return p, nil
}

// writePayloads prints, family by family, exactly the bytes apply loads.
// Every payload starts with a # line naming its loader, which the loader
// itself skips, so the output is the loaded bytes back to back.
func writePayloads(w io.Writer, spec firewall.Spec, fams []netinfo.Family) error {
	for _, f := range fams {
		for _, p := range firewall.NewRuleset(spec, f).Payloads() {
			if _, err := w.Write(p.Bytes); err != nil {
				return err
			}
		}
	}
	return nil
}

func firewallLogger(a *app) *slog.Logger {
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// reapplyIfManaged is what allow and revoke call after changing the
// policy: when cachectl manages the firewall, the new allowlist is in
// force before the command returns.
func reapplyIfManaged(a *app, p *policy.Policy) error {
	if !p.Firewall.Managed {
		return nil
	}
	err := a.withApplier(a.getenv("CACHECTL_NETNS"), func(ap firewall.Applier) error {
		res, err := firewall.Apply(context.Background(), ap, firewallSpec(p), firewallLogger(a))
		for _, w := range res.Warnings {
			fmt.Fprintf(a.stderr, "warning: %s\n", w)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("the policy was changed, but the firewall was not re-applied (run 'cachectl apply'): %w", err)
	}
	fmt.Fprintln(a.stderr, "firewall re-applied")
	return nil
}
