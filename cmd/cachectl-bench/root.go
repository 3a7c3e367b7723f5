package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "cachectl-bench",
		Short:         "Load-test and compare cachectl's daemon with memcached",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newLoadCmd(), newCompareCmd(), newPoolCmd(), newSoakCmd(), newAuditScaleCmd(), newLongrunCmd())
	return root
}

// writeJSON writes v indented to path ("-" = w).
func writeJSON(w io.Writer, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = w.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing JSON results: %w", err)
	}
	return nil
}
