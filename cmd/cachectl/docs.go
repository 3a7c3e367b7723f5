package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newCompletionCmd writes a shell's completion script, generated from the
// command tree by cobra, so a new command or flag completes without edits.
func newCompletionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print the shell completion script for bash, zsh or fish",
		Long: `Print a completion script generated from cachectl's commands and flags.
'make install' installs all three; to load one by hand:

  source <(cachectl completion bash)
  cachectl completion zsh > "${fpath[1]}/_cachectl"
  cachectl completion fish > ~/.config/fish/completions/cachectl.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("%s needs one shell: bash, zsh or fish", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeCompletion(cmd.Root(), args[0], a)
		},
	}
}

func writeCompletion(root *cobra.Command, shell string, a *app) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(a.stdout, true)
	case "zsh":
		return root.GenZshCompletion(a.stdout)
	case "fish":
		return root.GenFishCompletion(a.stdout, true)
	}
	return usageErrorf("completion: unknown shell %q: give bash, zsh or fish", shell)
}

// newManCmd writes one man page per command into a directory, for
// `make install`; hidden, as operators read the pages rather than make them.
func newManCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages (section 1) into DIR",
		Hidden: true,
		Args:   minArgs(1, "a directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			root := cmd.Root()
			// No "auto generated" history section; the header's date is
			// $SOURCE_DATE_EPOCH when set, for reproducible packages.
			root.DisableAutoGenTag = true
			hdr := &doc.GenManHeader{Title: "CACHECTL", Section: "1", Source: "cachectl", Manual: "cachectl manual"}
			if err := doc.GenManTree(root, hdr, dir); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
			fmt.Fprintf(a.stderr, "wrote %d man pages in %s\n", len(pages), dir)
			return nil
		},
	}
}
