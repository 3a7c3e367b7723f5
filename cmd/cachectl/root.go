package main

import (
	"io"
	"net/netip"
	"os"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/firewall"
	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/netinfo"
)

// app carries what every command needs from its caller, so that commands
// can be run in-process by tests with their own streams.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// The kernel edges of the firewall commands and the audit, for a
	// namespace name ("" = this one). Tests put firewalltest doubles here
	// to run those commands without root.
	applier func(netns string) (firewall.Applier, error)
	flows   func(netns string) (audit.Source, error)
	// probe reads the rest of the host explain needs: addresses, the
	// route to a peer, the running daemon.
	probe func(netns string) (hostProbe, error)
	// localAddrs lists this host's addresses (netlink), for the checks
	// that tell a local address from a peer's.
	localAddrs func() ([]netip.Addr, error)
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newApp(stdin, stdout, stderr).run(args)
}

// newApp is the app with the real kernel edges.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv,
		applier:    func(netns string) (firewall.Applier, error) { return firewall.NewExec(netns) },
		flows:      func(netns string) (audit.Source, error) { return audit.OpenNamed(netns) },
		probe:      newKernelProbe,
		localAddrs: func() ([]netip.Addr, error) { return netinfo.Current().LocalAddrs() },
	}
}

func (a *app) run(args []string) int {
	stderr := a.stderr
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		reportError(stderr, err)
	}
	return exitCode(err)
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "cachectl",
		Short: "A memcached-compatible cache daemon with an enforced, audited peer allowlist",
		Long: `cachectl runs a memcached-compatible cache daemon and controls who may reach it.

  -l/--listen and --addr choose the LOCAL address the daemon listens on.
  "cachectl allow ADDR" chooses which PEERS may connect (policy + firewall).

` + exitCodesHelp,
		Args:          unknownCommand,
		RunE:          showHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.CompletionOptions.DisableDefaultCmd = true

	for _, c := range []*cobra.Command{
		newVersionCmd(a),
		newServeCmd(a),
		newInterfacesCmd(a),
		newAllowCmd(a),
		newRevokeCmd(a),
		newPolicyCmd(a),
		newRulesCmd(a),
		newApplyCmd(a),
		newFirewallCmd(a),
		newAuditCmd(a),
		newBindCmd(a),
		newCompletionCmd(a),
		newManCmd(a),
		newExplainCmd(a),
		newStatusCmd(a),
		newImportCmd(a),
	} {
		root.AddCommand(c)
	}
	return root
}

// defaultPolicyPath is where the policy lives unless --policy or
// CACHECTL_POLICY say otherwise.
const defaultPolicyPath = "/etc/cachectl/policy.yaml"

// addPolicyFlag gives a command the --policy flag every policy-reading
// command shares; the environment variable CACHECTL_POLICY sets the default.
func addPolicyFlag(a *app, cmd *cobra.Command, dst *string) {
	def := defaultPolicyPath
	if v := a.getenv("CACHECTL_POLICY"); v != "" {
		def = v
	}
	cmd.Flags().StringVar(dst, "policy", def, "policy file (env CACHECTL_POLICY)")
}

// unknownCommand is the root's argument check: cobra sends a word that
// names no subcommand here, and it is bad usage (exit code 2).
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unknown command %q for %q; see '%s --help'", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// showHelp is what a command that only groups others does when run alone.
func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// noArgs rejects positional arguments as bad usage (exit code 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// minArgs requires at least n positional arguments (exit code 2 otherwise).
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s needs %s; see '%s --help'", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}
