package main

import (
	"errors"
	"fmt"
	"io"
)

// Exit codes are part of cachectl's contract with scripts and monitoring.
const (
	exitOK        = 0 // success
	exitFailure   = 1 // the operation failed (I/O, kernel, daemon)
	exitUsage     = 2 // bad input or usage: nothing was changed
	exitViolation = 3 // audit or status found something not permitted / drifted
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  failure (the operation could not be carried out)
  2  bad input or usage (nothing was changed)
  3  audit found a violation, or the firewall drifted from the policy`

// exitError carries the exit code a failure maps to; only main turns it
// into a process exit.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as bad input (exit code 2).
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// usageErrorf formats a bad-input error (exit code 2).
func usageErrorf(format string, args ...any) error {
	return usageError(fmt.Errorf(format, args...))
}

// violationError reports a finding that is not an operational failure (exit code 3).
func violationError(err error) error { return &exitError{code: exitViolation, err: err} }

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Every usage error is typed where it arises: flag errors through the
	// root's SetFlagErrorFunc, arguments through noArgs, minArgs and
	// unknownCommand. Anything else is a failure.
	return exitFailure
}

// reportError prints the final error the way every command does, unless the
// command already reported it (a silent exitError with a nil message).
func reportError(w io.Writer, err error) {
	var ee *exitError
	if errors.As(err, &ee) && ee.err == errSilent {
		return
	}
	fmt.Fprintf(w, "cachectl: %v\n", err)
}

// errSilent is used with exitError when the command has already printed its
// own report (audit, status) and only the exit code remains to be set.
var errSilent = errors.New("")
