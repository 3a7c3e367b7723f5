package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/policy"
)

type policyInitOptions struct {
	policy string
}

func newPolicyInitCmd(a *app) *cobra.Command {
	var o policyInitOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write the default policy (loopback only, UDP off) if there is none",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return runPolicyInit(a, o) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	return cmd
}

func runPolicyInit(a *app, o policyInitOptions) error {
	err := policy.Create(o.policy, policy.Default())
	if errors.Is(err, fs.ErrExist) {
		return usageErrorf("%s already exists; not overwriting it (see it with 'cachectl policy show', edit it with allow/revoke)", o.policy)
	}
	if err != nil {
		return policyFileError(err)
	}
	_, err = fmt.Fprintf(a.stdout, "wrote %s: only loopback peers may connect; add peers with 'cachectl allow ADDR'\n", o.policy)
	return err
}
