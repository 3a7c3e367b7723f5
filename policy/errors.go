package policy

import (
	"fmt"
	"strings"
)

// ParseError is a policy file that is not valid YAML or does not fit the
// format (unknown field, wrong type). Line is 1-based, 0 when unknown; Field
// is the dotted path of the offending key, such as "peers.allowed[0].cidr".
type ParseError struct {
	Path  string
	Line  int
	Field string
	Msg   string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s: %s", location(e.Path, e.Line), e.Msg)
}

// Problem is one semantic mistake in a policy.
type Problem struct {
	Line  int    `json:"line,omitempty"`
	Field string `json:"field"`
	Msg   string `json:"message"`
}

// ValidationError lists every semantic problem found in a policy, so the
// operator can fix them all in one pass.
type ValidationError struct {
	Path     string
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		pr := e.Problems[0]
		fmt.Fprintf(&b, "%s: %s: %s", location(e.Path, pr.Line), pr.Field, pr.Msg)
		return b.String()
	}
	name := e.Path
	if name == "" {
		name = "policy"
	}
	fmt.Fprintf(&b, "%s: %d problems:", name, len(e.Problems))
	for _, pr := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s: %s", location(e.Path, pr.Line), pr.Field, pr.Msg)
	}
	return b.String()
}

func location(path string, line int) string {
	if path == "" {
		path = "policy"
	}
	if line > 0 {
		return fmt.Sprintf("%s:%d", path, line)
	}
	return path
}

// problems collects Problems keyed by field path while a policy is checked.
type problems []Problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
}
