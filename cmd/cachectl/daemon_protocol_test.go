package main

import (
	"errors"
	"testing"

	"github.com/spf13/pflag"

	"github.com/cachectl/cachectl/cached"
)

// TestDaemonProtocolFlag: -B takes memcached's three values and refuses
// anything else as a usage error.
func TestDaemonProtocolFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want cached.Protocol
		bad  bool
	}{
		{nil, cached.ProtocolAuto, false},
		{[]string{"-B", "auto"}, cached.ProtocolAuto, false},
		{[]string{"-B", "ascii"}, cached.ProtocolASCII, false},
		{[]string{"--protocol=binary"}, cached.ProtocolBinary, false},
		{[]string{"-B", "text"}, 0, true},
	} {
		var f daemonFlags
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		f.register(fs, true)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.config()
		if tc.bad {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage {
				t.Errorf("%v: got %v, want a usage error", tc.args, err)
			}
			continue
		}
		if err != nil || cfg.Protocol != tc.want {
			t.Errorf("%v: protocol %v, %v; want %v", tc.args, cfg.Protocol, err, tc.want)
		}
	}
}
