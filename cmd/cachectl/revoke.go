package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/policy"
)

type revokeOptions struct {
	policy string
	json   bool
}

func newRevokeCmd(a *app) *cobra.Command {
	var o revokeOptions
	cmd := &cobra.Command{
		Use:   "revoke IP|CIDR ...",
		Short: "Stop letting peers connect: remove entries from the policy's allowlist",
		Long: `Remove entries from the allowlist in the policy file. Each argument must
match an entry exactly (10.0.0.1 removes 10.0.0.1/32, not a 10.0.0.0/24
that contains it); revoking an entry that is not there is reported, not an
error. Loopback is controlled by peers.allow_loopback in the policy.

` + exitCodesHelp,
		Args: minArgs(1, "at least one IP address or CIDR"),
		RunE: func(_ *cobra.Command, args []string) error { return runRevoke(a, o, args) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

// revokeResult is what happened to one argument.
type revokeResult struct {
	Prefix  netip.Prefix `json:"cidr"`
	Revoked bool         `json:"revoked"`
	// StillPermittedBy names a remaining entry that still lets these
	// addresses in, so "revoked" is not mistaken for "blocked".
	StillPermittedBy string `json:"still_permitted_by,omitempty"`
}

func runRevoke(a *app, o revokeOptions, args []string) error {
	prefixes, err := parsePeerArgs(args)
	if err != nil {
		return err
	}
	check := make([]netip.Prefix, len(prefixes))
	for i, pf := range prefixes {
		check[i] = pf.Masked()
	}
	before := liveBefore(o.policy, check)
	p, results, err := revokePeers(o.policy, prefixes)
	if err != nil {
		return err
	}
	fwErr := reapplyIfManaged(a, p)
	conf, confErr := confirmReload(o.policy, check, before)
	if err := printRevoke(a, o, p, results, conf); err != nil {
		return err
	}
	return errors.Join(fwErr, confErr, lingering(conf))
}

// revokePeers removes prefixes from the policy file in one locked edit.
func revokePeers(path string, prefixes []netip.Prefix) (*policy.Policy, []revokeResult, error) {
	var results []revokeResult
	p, err := policy.Edit(path, func(p *policy.Policy) error {
		results = results[:0]
		changed := false
		for _, pf := range prefixes {
			r := revokeResult{Prefix: pf.Masked(), Revoked: p.Revoke(pf)}
			changed = changed || r.Revoked
			results = append(results, r)
		}
		for i := range results {
			results[i].StillPermittedBy = p.CoveredBy(results[i].Prefix)
		}
		if !changed {
			return policy.ErrUnchanged
		}
		return nil
	})
	if err != nil {
		return nil, nil, policyFileError(err)
	}
	return p, results, nil
}

type revokeReport struct {
	Policy  string             `json:"policy"`
	Results []revokeResult     `json:"results"`
	Daemon  daemonConfirmation `json:"daemon"`
}

func printRevoke(a *app, o revokeOptions, p *policy.Policy, results []revokeResult, conf daemonConfirmation) error {
	for _, r := range results {
		if r.StillPermittedBy != "" {
			fmt.Fprintf(a.stderr, "note: %s is still allowed by %s\n", r.Prefix, r.StillPermittedBy)
		}
	}
	rep := revokeReport{Policy: o.policy, Results: results, Daemon: conf}
	return printer{w: a.stdout, json: o.json}.print(rep, func(w io.Writer) error {
		for _, r := range results {
			if r.Revoked {
				fmt.Fprintf(w, "revoked %s\n", r.Prefix)
			} else {
				fmt.Fprintf(w, "%s was not in the allowlist; nothing to revoke\n", r.Prefix)
			}
		}
		_, err := fmt.Fprintf(w, "policy %s: %s\n", o.policy, peerSummary(p))
		writeConfirmation(w, conf)
		return err
	})
}
