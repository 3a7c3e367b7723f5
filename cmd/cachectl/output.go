package main

import (
	"encoding/json"
	"io"
)

// printer writes a command's result either as text for people or, with
// --json, as one JSON document with stable snake_case fields.
type printer struct {
	w    io.Writer
	json bool
}

// print writes v as indented JSON in --json mode, or calls text otherwise.
func (p printer) print(v any, text func(w io.Writer) error) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return text(p.w)
}
