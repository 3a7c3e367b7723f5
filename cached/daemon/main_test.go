package daemon

import (
	"bytes"
	"strings"
	"testing"
)

// TestMainRefusals: a refused command line exits 2 before anything
// listens, and says why.
func TestMainRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-R", "0"}, "greater than 0"},
		{[]string{"-o", "frobnicate"}, "Illegal suboption"},
		{[]string{"--no-such-flag"}, "unknown flag"},
		{[]string{"-p", "11211", "extra"}, "takes no arguments"},
	} {
		var stderr bytes.Buffer
		if code := Main(tc.args, &stderr); code != ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("Main(%q) = %d, %q; want %d saying %q", tc.args, code, stderr.String(), ExitUsage, tc.want)
		}
	}
}
