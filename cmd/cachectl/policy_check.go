package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/policy"
)

type policyCheckOptions struct {
	policy string
}

func newPolicyCheckCmd(a *app) *cobra.Command {
	var o policyCheckOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the policy file; report every problem with its line (exit 2 if invalid)",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return runPolicyCheck(a, o) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	return cmd
}

func runPolicyCheck(a *app, o policyCheckOptions) error {
	p, err := policy.Load(o.policy)
	var pe *policy.ParseError
	var ve *policy.ValidationError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usageErrorf("%s does not exist (without it cachectl applies the default policy: loopback only); create it with 'cachectl policy init'", o.policy)
	case errors.As(err, &pe), errors.As(err, &ve):
		return usageError(err)
	case err != nil:
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s is valid: %s\n", o.policy, peerSummary(p))
	return err
}
