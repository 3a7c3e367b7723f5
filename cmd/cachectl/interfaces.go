package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cachectl/cachectl/netinfo"
)

func newInterfacesCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "interfaces",
		Short: "List the interfaces and addresses this host can listen on",
		Long: `List every interface with its state and addresses (scope, flags such as
tentative) and whether the daemon could listen on each address now.

-l/--addr must name one of the addresses marked "yes" (or a wildcard: 0.0.0.0
for every IPv4 address, :: for every IPv6 one). They choose where cachectl LISTENS, not who may connect: for that,
use 'cachectl allow ADDR'.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := netinfo.Gather()
			if err != nil {
				return fmt.Errorf("reading this host's interfaces: %w", err)
			}
			return printer{w: a.stdout, json: asJSON}.print(interfacesView(s), func(w io.Writer) error {
				return renderInterfaces(w, s)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// interfacesJSON is the --json document; its field names are a contract.
type interfacesJSON struct {
	Interfaces []interfaceJSON `json:"interfaces"`
}

type interfaceJSON struct {
	Name      string        `json:"name"`
	Index     int           `json:"index"`
	Kind      string        `json:"kind"`
	AdminUp   bool          `json:"admin_up"`
	OperState string        `json:"oper_state"`
	Loopback  bool          `json:"loopback"`
	Usable    bool          `json:"usable"`
	Addresses []addressJSON `json:"addresses"`
}

type addressJSON struct {
	Address    string         `json:"address"` // as to pass to -l: with %zone for IPv6 link-local
	Prefix     string         `json:"prefix"`
	Family     netinfo.Family `json:"family"`
	Scope      string         `json:"scope"`
	Tentative  bool           `json:"tentative"`
	DADFailed  bool           `json:"dad_failed"`
	Optimistic bool           `json:"optimistic"`
	Secondary  bool           `json:"secondary"`
	Deprecated bool           `json:"deprecated"`
	Permanent  bool           `json:"permanent"`
	Listen     bool           `json:"listen"`
	Reason     string         `json:"reason,omitempty"` // why listen is false
}

func interfacesView(s netinfo.Snapshot) interfacesJSON {
	out := interfacesJSON{Interfaces: []interfaceJSON{}}
	for _, ifc := range s.Interfaces {
		v := interfaceJSON{
			Name: ifc.Name, Index: ifc.Index, Kind: ifc.Kind, AdminUp: ifc.AdminUp,
			OperState: ifc.OperState, Loopback: ifc.Loopback, Usable: ifc.Usable(),
			Addresses: []addressJSON{},
		}
		for _, ad := range ifc.Addrs {
			reason := listenReason(s, ad)
			v.Addresses = append(v.Addresses, addressJSON{
				Address: ad.Addr.String(), Prefix: ad.Prefix.String(), Family: netinfo.FamilyOf(ad.Addr), Scope: ad.Scope.String(),
				Tentative: ad.Tentative, DADFailed: ad.DADFailed, Optimistic: ad.Optimistic,
				Secondary: ad.Secondary, Deprecated: ad.Deprecated, Permanent: ad.Permanent,
				Listen: reason == "", Reason: reason,
			})
		}
		out.Interfaces = append(out.Interfaces, v)
	}
	return out
}

// listenReason asks the same judge the daemon uses, so this listing cannot
// disagree with what 'serve -l' will accept; "" means it can listen there.
func listenReason(s netinfo.Snapshot, ad netinfo.Address) string {
	err := netinfo.CheckListen(s, ad.Addr)
	var (
		tent *netinfo.TentativeError
		down *netinfo.InterfaceDownError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &tent) && tent.DADFailed:
		return "duplicate address detection failed"
	case errors.As(err, &tent):
		return "tentative (duplicate address detection running)"
	case errors.As(err, &down) && down.AdminUp:
		return "interface has no carrier"
	case errors.As(err, &down):
		return "interface down"
	}
	return err.Error()
}

// renderInterfaces writes the text listing: one row per address, the
// interface and its state on its first row.
func renderInterfaces(w io.Writer, s netinfo.Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INTERFACE\tSTATE\tADDRESS\tSCOPE\tFLAGS\tLISTEN")
	for _, ifc := range s.Interfaces {
		name, state := ifc.Name, interfaceState(ifc)
		if len(ifc.Addrs) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t\t\tno addresses\n", name, state)
			continue
		}
		for _, ad := range ifc.Addrs {
			listen := "yes"
			if r := listenReason(s, ad); r != "" {
				listen = "no: " + r
			} else if ad.Addr.Zone() != "" {
				listen = "yes, as " + ad.Addr.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, state, ad.Prefix, ad.Scope, addressFlags(ad), listen)
			name, state = "", ""
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\n-l/--addr take an address marked yes (or 0.0.0.0 / ::) to LISTEN on; 'cachectl allow ADDR' chooses who may connect.")
	return err
}

func interfaceState(ifc netinfo.Interface) string {
	switch {
	case ifc.Usable():
		return "up"
	case !ifc.AdminUp:
		return "down"
	}
	return "no carrier (" + ifc.OperState + ")"
}

func addressFlags(ad netinfo.Address) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{ad.Tentative, "tentative"}, {ad.DADFailed, "dadfailed"}, {ad.Optimistic, "optimistic"},
		{ad.Secondary, "secondary"}, {ad.Deprecated, "deprecated"}, {ad.Permanent, "permanent"},
	} {
		if x.on {
			f = append(f, x.name)
		}
	}
	if len(f) == 0 {
		return "-"
	}
	return strings.Join(f, ",")
}
