package netinfo

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// PathTo asks the namespace's kernel how it reaches peer (a route lookup,
// `ip route get PEER`) and reads the reverse-path filter settings.
func (src Source) PathTo(peer netip.Addr) (Path, error) {
	peer = peer.WithZone("")
	p := Path{Peer: peer}
	h, err := src.handle()
	if err != nil {
		return p, err
	}
	defer h.Close()
	routes, err := h.RouteGet(peer.AsSlice())
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		// The kernel's own refusal is the answer: no route, or an
		// unreachable, prohibit or blackhole one.
		p.Route.Err = errno.Error()
	case err != nil:
		return p, fmt.Errorf("looking up the route to %s: %w", peer, err)
	case len(routes) == 0:
		p.Route.Err = "the kernel returned no route"
	default:
		p.Route = route(h, routes[0])
	}
	if peer.Is4() {
		rp, err := src.rpFilter()
		if err != nil {
			return p, err
		}
		p.RPFilter = &rp
	}
	return p, nil
}

// route converts netlink's route; the one place its net.IP fields are read.
func route(h *netlink.Handle, r netlink.Route) Route {
	out := Route{Type: routeTypes[r.Type]}
	if out.Type == "" {
		out.Type = fmt.Sprintf("type-%d", r.Type)
	}
	if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
		out.Iface = l.Attrs().Name
	}
	if a, ok := netip.AddrFromSlice(r.Src); ok {
		out.Src = a.Unmap()
	}
	if a, ok := netip.AddrFromSlice(r.Gw); ok {
		out.Gateway = a.Unmap()
	}
	return out
}

var routeTypes = map[int]string{
	unix.RTN_UNICAST: "unicast", unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast",
	unix.RTN_MULTICAST: "multicast", unix.RTN_BLACKHOLE: "blackhole",
	unix.RTN_UNREACHABLE: "unreachable", unix.RTN_PROHIBIT: "prohibit",
}

// confDir holds one directory per interface plus "all" and "default".
const confDir = "/proc/sys/net/ipv4/conf"

// rpFilter reads rp_filter for "all" and every interface. The sysctl
// files under /proc/sys/net answer for the network namespace of the
// thread that opens them, so another namespace's are read from a thread
// switched into it.
func (src Source) rpFilter() (RPFilter, error) {
	f := RPFilter{Iface: map[string]int{}}
	err := src.Do(func() error {
		dirs, err := os.ReadDir(confDir)
		if err != nil {
			return fmt.Errorf("reading %s: %w", confDir, err)
		}
		for _, d := range dirs {
			if d.Name() == "default" {
				continue // applies to interfaces not yet created
			}
			raw, err := os.ReadFile(filepath.Join(confDir, d.Name(), "rp_filter"))
			if err != nil {
				return fmt.Errorf("reading rp_filter: %w", err)
			}
			v, err := strconv.Atoi(strings.TrimSpace(string(raw)))
			if err != nil {
				return fmt.Errorf("rp_filter of %s is %q: %w", d.Name(), raw, err)
			}
			if d.Name() == "all" {
				f.All = v
			} else {
				f.Iface[d.Name()] = v
			}
		}
		return nil
	})
	return f, err
}

// Do runs fn on an OS thread switched into the source's namespace, for
// what netlink handles cannot reach: /proc/sys, and sockets, which belong
// to the namespace of the thread that creates them.
func (src Source) Do(fn func() error) error {
	if !src.other {
		return fn()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("getting the current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(src.ns); err != nil {
		return fmt.Errorf("entering network namespace %s: %w", src.ns, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// A thread left in the wrong namespace must never run other goroutines.
			panic(fmt.Sprintf("returning from network namespace %s: %v", src.ns, err))
		}
	}()
	return fn()
}
