package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/netinfo"
)

// lookupFunc resolves a host name given to -l; a seam for tests.
type lookupFunc func(host string) ([]netip.Addr, error)

func lookupHost(host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// checkListenFlags judges every -l address against this host's links before
// anything binds, so a client's address given by mistake gets netinfo's
// explanation (exit 2) instead of the kernel's "Cannot assign requested
// address". The wildcard (no -l, or an empty host) needs no check, and the
// host is read over netlink only when some address needs one.
func checkListenFlags(listen []string, port int, gather func() (netinfo.Snapshot, error), lookup lookupFunc) error {
	hostports, err := cached.ListenAddrs(listen, port)
	if err != nil {
		return usageError(err)
	}
	var snap *netinfo.Snapshot
	for _, hp := range hostports {
		host, _, err := net.SplitHostPort(hp)
		if err != nil {
			return usageErrorf("-l %q: %v", hp, err)
		}
		if host == "" {
			continue
		}
		a, err := listenHostAddr(host, lookup)
		if err != nil {
			return err
		}
		if a.IsUnspecified() {
			continue
		}
		if snap == nil {
			s, err := gather()
			if err != nil {
				return fmt.Errorf("reading this host's interfaces over netlink: %w", err)
			}
			snap = &s
		}
		if err := netinfo.CheckListen(*snap, a); err != nil {
			if a.String() != host {
				err = fmt.Errorf("-l %s resolves to %s: %w", host, a, err)
			}
			return usageErrorf("refusing to listen (nothing is listening):\n  %w", err)
		}
	}
	return nil
}

// listenHostAddr is the address net.Listen will bind for host: the literal
// itself, or for a name the first IPv4 address it resolves to, else the
// first address, which is the choice Go's listener makes.
func listenHostAddr(host string, lookup lookupFunc) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	addrs, err := lookup(host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, usageErrorf("-l %s: cannot resolve this name (%v); give a local IP address instead ('cachectl interfaces' lists them)", host, err)
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	return addrs[0], nil
}
