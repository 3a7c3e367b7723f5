package daemon

import (
	"errors"
	"fmt"
)

// UsageError is a refusal of the daemon's flags or of what they ask for:
// nothing was started, and changing the command line is the fix. Callers
// map it to their bad-usage exit status.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageError(err error) error { return &UsageError{Err: err} }

func usageErrorf(format string, args ...any) error {
	return usageError(fmt.Errorf(format, args...))
}

// IsUsage reports whether err is, or wraps, a UsageError.
func IsUsage(err error) bool {
	var ue *UsageError
	return errors.As(err, &ue)
}
