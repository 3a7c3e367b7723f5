package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// The shared policies under the top-level testdata/ are operator examples:
// the good one must validate and render for both families, and each bad one
// must be refused with exit code 2 and the line and field at fault.
func TestSharedPolicyFixtures(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "policies")
	for _, tc := range []struct {
		file string
		code int
		want []string
	}{
		{"example.yaml", exitOK, []string{"is valid", "3 allowed entries"}},
		{"bad-unknown-field.yaml", exitUsage, []string{"bad-unknown-field.yaml:6", `unknown field "alowed"`}},
		{"bad-cidr.yaml", exitUsage, []string{"bad-cidr.yaml:7", "peers.allowed[0].cidr", "10.0.0.256"}},
		{"bad-host-bits.yaml", exitUsage, []string{"bad-host-bits.yaml:6", "did you mean 10.0.1.0/24"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"policy", "check", "--policy", filepath.Join(dir, tc.file)}, strings.NewReader(""), &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tc.code {
				t.Fatalf("policy check exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"rules", "--policy", filepath.Join(dir, "example.yaml")}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("rules on the example policy: exit %d: %s", code, stderr.String())
	}
	for _, w := range []string{"-s 10.0.0.21/32", "-s 10.0.1.0/24", "-s fd00:10::21/128", "COMMIT"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("rendered rules lack %q:\n%s", w, stdout.String())
		}
	}
}
