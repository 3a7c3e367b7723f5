package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/cached"
)

func newVersionCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print cachectl's version and the memcached version it speaks",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := struct {
				Version         string `json:"version"`
				ProtocolVersion string `json:"protocol_version"`
				Go              string `json:"go"`
			}{cached.Version, cached.ProtocolVersion, runtime.Version()}
			return printer{w: a.stdout, json: asJSON}.print(v, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "cachectl %s (memcached protocol %s, %s)\n", v.Version, v.ProtocolVersion, v.Go)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
