package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/policy"
)

type importOptions struct {
	policy string
	force  bool
	json   bool
}

func newImportCmd(a *app) *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import-memcached-conf FILE",
		Short: "Turn a Debian-style /etc/memcached.conf into a policy file",
		Long: `Read a memcached.conf as Debian's start script does (one flag per line, #
comments) and write a policy file from it:

  -m -c -t -I   become daemon.memory_limit_mb, max_connections, threads,
                max_item_size
  -p -U         become bind.port and bind.udp_port (-U 0: UDP off)
  -l ADDR       becomes bind.addresses, explained: -l is the LOCAL address
                memcached listened on, never a list of who may connect; an
                address this host does not have gets a hint that it was
                probably meant as a peer ('cachectl allow ADDR')

Everything else is listed with the reason it is not carried over (for
example -u and -P, which 'cachectl bind' takes as flags, and -d). The new
policy admits loopback peers only: let others in with 'cachectl allow'.

An existing policy is never overwritten unless --force is given.

` + exitCodesHelp,
		Args: exactArgs(1, "the memcached.conf to read"),
		RunE: func(_ *cobra.Command, args []string) error { return runImport(a, o, args[0]) },
	}
	addPolicyFlag(a, cmd, &o.policy)
	cmd.Flags().BoolVar(&o.force, "force", false, "overwrite an existing policy file")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

type importReport struct {
	Conf   string `json:"conf"`
	Policy string `json:"policy"`
	policy.ConfImport
}

func runImport(a *app, o importOptions, conf string) error {
	data, err := os.ReadFile(conf)
	if err != nil {
		return usageErrorf("reading %s: %w", conf, err)
	}
	local, err := a.localAddrs()
	if err != nil {
		fmt.Fprintf(a.stderr, "warning: cannot list this host's addresses (%v); -l addresses are not checked\n", err)
	}
	imp, err := policy.ImportMemcachedConf(data, local)
	if err != nil {
		return usageErrorf("%s: %w", conf, err)
	}
	if err := writeImported(o, imp.Policy); err != nil {
		return err
	}
	rep := importReport{Conf: conf, Policy: o.policy, ConfImport: imp}
	return printer{w: a.stdout, json: o.json}.print(rep, rep.writeText)
}

// writeImported writes the policy, refusing to replace one unless forced.
func writeImported(o importOptions, p *policy.Policy) error {
	if !o.force {
		err := policy.Create(o.policy, p)
		if errors.Is(err, fs.ErrExist) {
			return usageErrorf("policy %s already exists; nothing was written (pass --force to replace it)", o.policy)
		}
		return policyFileError(err)
	}
	return policyFileError(policy.Replace(o.policy, p))
}

func (r importReport) writeText(w io.Writer) error {
	fmt.Fprintf(w, "imported %s into %s\n", r.Conf, r.Policy)
	if len(r.Settings) > 0 {
		fmt.Fprintln(w, "\nsettings:")
		for _, s := range r.Settings {
			fmt.Fprintf(w, "  line %-3d %s %s -> %s\n", s.Line, s.Flag, s.Value, s.Field)
		}
	}
	if len(r.Listen) > 0 {
		fmt.Fprintln(w, "\nlisten addresses (bind.addresses):")
		for _, l := range r.Listen {
			fmt.Fprintf(w, "  line %-3d %s: %s\n", l.Line, l.Addr, l.Note)
			if l.Hint != "" {
				fmt.Fprintf(w, "           HINT: %s\n", l.Hint)
			}
		}
	}
	if len(r.Dropped) > 0 {
		fmt.Fprintln(w, "\nnot carried over:")
		for _, d := range r.Dropped {
			fmt.Fprintf(w, "  line %-3d %s: %s\n", d.Line, d.Text, d.Reason)
		}
	}
	_, err := fmt.Fprintf(w, "\nnext: review it with 'cachectl policy show --policy %s', let peers in with 'cachectl allow ADDR', then run 'cachectl bind'\n", r.Policy)
	return err
}

// exactArgs requires exactly n positional arguments (exit code 2 otherwise).
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s needs %s; see '%s --help'", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}
