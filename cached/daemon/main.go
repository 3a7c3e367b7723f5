package daemon

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// Exit statuses of Main, the same as cachectl's.
const (
	ExitOK      = 0 // stopped by SIGINT or SIGTERM
	ExitFailure = 1 // could not run: bind, privileges, pid file
	ExitUsage   = 2 // the command line was refused; nothing was started
)

// Main runs the daemon with memcached's flags in args and returns the exit
// status; errors go to stderr. It is the whole of `cachectl serve` except
// the check of -l addresses against the host's links, and lets tests run
// the daemon as a process of their own binary.
func Main(args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("cachectl serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var f Flags
	f.Register(fs, AllFlags)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return ExitOK
	case err != nil:
		err = usageError(err)
	case fs.NArg() > 0:
		err = usageErrorf("takes no arguments, got %q", fs.Args())
	}
	if err == nil {
		var cfg Config
		if cfg, err = f.Config(); err == nil {
			err = Run(cfg, Options{Stderr: stderr})
		}
	}
	switch {
	case err == nil:
		return ExitOK
	case IsUsage(err):
		fmt.Fprintf(stderr, "cachectl: %v\n", err)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "cachectl: %v\n", err)
		return ExitFailure
	}
}
