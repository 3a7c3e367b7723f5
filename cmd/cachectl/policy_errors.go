package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"

	"github.com/cachectl/cachectl/policy"
)

// parsePeerArgs reads every allow/revoke argument before anything is
// edited, so one bad argument means nothing is written (exit 2) and the
// operator sees every mistake at once.
func parsePeerArgs(args []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var bad []string
	for _, a := range args {
		pf, err := policy.ParsePeer(a)
		if err != nil {
			bad = append(bad, "  "+err.Error())
			continue
		}
		out = append(out, pf)
	}
	if len(bad) > 0 {
		return nil, usageErrorf("nothing was changed; fix these arguments:\n%s", strings.Join(bad, "\n"))
	}
	return out, nil
}

// policyFileError gives a broken policy file exit code 2 (it is bad input)
// and says what to do; other errors (permissions, I/O) stay failures.
func policyFileError(err error) error {
	var pe *policy.ParseError
	var ve *policy.ValidationError
	if errors.As(err, &pe) || errors.As(err, &ve) {
		return usageErrorf("%w\nthe policy file was not changed: fix it by hand, then run 'cachectl policy check'", err)
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w (editing the policy needs write access to its directory; run as root or pass --policy FILE)", err)
	}
	return err
}
