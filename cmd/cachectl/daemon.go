package main

import (
	"github.com/cachectl/cachectl/cached/daemon"
)

// daemonError gives the daemon library's refusals of the command line the
// bad-usage exit status; every other failure keeps exit status 1.
func daemonError(err error) error {
	if daemon.IsUsage(err) {
		return usageError(err)
	}
	return err
}
