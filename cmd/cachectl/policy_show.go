package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/policy"
)

type policyShowOptions struct {
	policy string
	json   bool
}

func newPolicyShowCmd(a *app) *cobra.Command {
	var o policyShowOptions
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective policy, defaults filled in",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return runPolicyShow(a, o) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

type policyShowReport struct {
	Path   string         `json:"path"`
	Exists bool           `json:"exists"`
	Policy *policy.Policy `json:"policy"`
}

func runPolicyShow(a *app, o policyShowOptions) error {
	p, existed, err := policy.LoadOrDefault(o.policy)
	if err != nil {
		return policyFileError(err)
	}
	rep := policyShowReport{Path: o.policy, Exists: existed, Policy: p}
	return printer{w: a.stdout, json: o.json}.print(rep, func(w io.Writer) error {
		if existed {
			fmt.Fprintf(w, "Policy %s\n", o.policy)
		} else {
			fmt.Fprintf(w, "Policy %s does not exist; this is the default policy ('cachectl policy init' writes it)\n", o.policy)
		}
		return p.Describe(w)
	})
}
