package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/policy"
)

type allowOptions struct {
	policy  string
	comment string
	json    bool
}

func newAllowCmd(a *app) *cobra.Command {
	var o allowOptions
	cmd := &cobra.Command{
		Use:   "allow IP|CIDR ...",
		Short: "Let peers connect: add addresses or CIDRs to the policy's allowlist",
		Long: `Add peers to the allowlist in the policy file. An address becomes a /32 or
/128; a CIDR must name a network (10.0.0.0/24, not 10.0.0.5/24). Names are
not resolved. Entries already present are left alone.

This decides who may CONNECT. The address the daemon listens on is the
local side, set with 'cachectl bind' or bind: in the policy.

` + exitCodesHelp,
		Args: minArgs(1, "at least one IP address or CIDR"),
		RunE: func(_ *cobra.Command, args []string) error { return runAllow(a, o, args) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	cmd.Flags().StringVar(&o.comment, "comment", "", "note stored with the new entries (who or what they are)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runAllow(a *app, o allowOptions, args []string) error {
	prefixes, err := parsePeerArgs(args)
	if err != nil {
		return err
	}
	p, results, err := allowPeers(o.policy, prefixes, o.comment, time.Now())
	if err != nil {
		return err
	}
	// The firewall first, then the daemon: once allow returns, both let
	// the peer in.
	fwErr := reapplyIfManaged(a, p)
	conf, confErr := confirmReload(o.policy, resultPrefixes(results), nil)
	if err := printAllow(a, o, p, results, conf); err != nil {
		return err
	}
	return errors.Join(fwErr, confErr)
}

func resultPrefixes(results []policy.AllowResult) []netip.Prefix {
	out := make([]netip.Prefix, len(results))
	for i, r := range results {
		out[i] = r.Prefix
	}
	return out
}

// allowPeers adds prefixes to the policy file in one locked edit.
func allowPeers(path string, prefixes []netip.Prefix, comment string, now time.Time) (*policy.Policy, []policy.AllowResult, error) {
	var results []policy.AllowResult
	p, err := policy.Edit(path, func(p *policy.Policy) error {
		results = results[:0]
		changed := false
		for _, pf := range prefixes {
			r := p.Allow(pf, comment, now)
			results = append(results, r)
			changed = changed || r.Status == policy.Added
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

type allowReport struct {
	Policy  string               `json:"policy"`
	Results []policy.AllowResult `json:"results"`
	Daemon  daemonConfirmation   `json:"daemon"`
}

func printAllow(a *app, o allowOptions, p *policy.Policy, results []policy.AllowResult, conf daemonConfirmation) error {
	// Warnings go to stderr in both modes: they must reach a person even when
	// a script reads the JSON.
	for _, r := range results {
		warnAllow(a.stderr, r)
	}
	rep := allowReport{Policy: o.policy, Results: results, Daemon: conf}
	return printer{w: a.stdout, json: o.json}.print(rep, func(w io.Writer) error {
		for _, r := range results {
			if r.Status == policy.Duplicate {
				fmt.Fprintf(w, "%s is already allowed\n", r.Prefix)
			} else {
				fmt.Fprintf(w, "allowed %s\n", r.Prefix)
			}
		}
		_, err := fmt.Fprintf(w, "policy %s: %s\n", o.policy, peerSummary(p))
		writeConfirmation(w, conf)
		return err
	})
}

func warnAllow(w io.Writer, r policy.AllowResult) {
	if r.Status != policy.Added {
		return
	}
	if r.Everyone {
		family := familyName(r.Prefix.Addr())
		fmt.Fprintf(w, "WARNING: %s lets EVERY %s peer connect to the cache: the allowlist no longer restricts %s at all.\n"+
			"         Undo with 'cachectl revoke %s'.\n", r.Prefix, family, family, r.Prefix)
	}
	if r.CoveredBy != "" {
		fmt.Fprintf(w, "warning: %s is already covered by %s; added anyway, so it stays allowed if %s is revoked\n", r.Prefix, r.CoveredBy, r.CoveredBy)
	}
	for _, c := range r.Covers {
		if !r.Everyone {
			fmt.Fprintf(w, "note: %s now also covers the existing entry %s\n", r.Prefix, c)
		}
	}
}

// peerSummary says in one line who may connect under p.
func peerSummary(p *policy.Policy) string {
	n := len(p.Peers.Allowed)
	s := fmt.Sprintf("%d allowed %s", n, plural(n, "entry", "entries"))
	if p.LoopbackAllowed() {
		return s + " plus loopback"
	}
	return s + ", loopback not allowed"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
