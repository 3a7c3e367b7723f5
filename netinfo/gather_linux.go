package netinfo

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Source is a network namespace to read links and addresses from: the
// current one (Current) or another (In). It is what Wait watches.
type Source struct {
	ns    netns.NsHandle
	other bool
}

// Current is the network namespace of the calling thread.
func Current() Source { return Source{} }

// In is another network namespace, such as a test's; the handle stays owned
// by the caller and must stay open while the Source is used.
func In(ns netns.NsHandle) Source { return Source{ns: ns, other: true} }

// Gather reads the current namespace's interfaces and addresses.
func Gather() (Snapshot, error) { return Current().Gather() }

// GatherIn reads the interfaces and addresses of namespace ns.
func GatherIn(ns netns.NsHandle) (Snapshot, error) { return In(ns).Gather() }

// dumpTries bounds how often a dump the kernel marked inconsistent is
// repeated before its data is accepted anyway.
const dumpTries = 5

// Gather reads the namespace's interfaces and addresses.
func (src Source) Gather() (Snapshot, error) {
	h, err := src.handle()
	if err != nil {
		return Snapshot{}, err
	}
	defer h.Close()
	links, err := dump("links", h.LinkList)
	if err != nil {
		return Snapshot{}, err
	}
	addrs, err := dump("addresses", func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return Snapshot{}, err
	}
	return build(links, addrs), nil
}

func (src Source) handle() (*netlink.Handle, error) {
	if src.other {
		h, err := netlink.NewHandleAt(src.ns)
		if err != nil {
			return nil, fmt.Errorf("opening netlink in network namespace %s: %w", src.ns, err)
		}
		return h, nil
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	return h, nil
}

// dump runs a netlink dump, repeating it while the kernel flags it as
// interrupted (NLM_F_DUMP_INTR: links or addresses changed mid-dump, as when
// IPv6 DAD completes). netlink v1.3.x returns the data together with
// ErrDumpInterrupted, so after the last try the data is taken as it is: a
// slightly stale view is better than none, and Wait re-reads on changes.
func dump[T any](what string, list func() ([]T, error)) ([]T, error) {
	for try := 1; ; try++ {
		items, err := list()
		if err == nil {
			return items, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("listing %s over netlink: %w", what, err)
		}
		if try == dumpTries {
			slog.Warn("netlink dump kept being interrupted; using the last result", "what", what, "tries", try)
			return items, nil
		}
	}
}

// build converts netlink's view into a Snapshot; the one place net.IP and
// kernel flag bits are read.
func build(links []netlink.Link, addrs []netlink.Addr) Snapshot {
	byIndex := map[int]int{}
	var s Snapshot
	for _, l := range links {
		at := l.Attrs()
		byIndex[at.Index] = len(s.Interfaces)
		s.Interfaces = append(s.Interfaces, Interface{
			Name:      at.Name,
			Index:     at.Index,
			Kind:      l.Type(),
			AdminUp:   at.Flags&net.FlagUp != 0,
			OperState: at.OperState.String(),
			Loopback:  at.Flags&net.FlagLoopback != 0,
		})
	}
	for _, a := range addrs {
		i, ok := byIndex[a.LinkIndex]
		if !ok || a.IPNet == nil {
			continue // the link went away between the two dumps
		}
		ad, ok := address(a, s.Interfaces[i].Name)
		if ok {
			s.Interfaces[i].Addrs = append(s.Interfaces[i].Addrs, ad)
		}
	}
	s.Sort()
	return s
}

func address(a netlink.Addr, ifname string) (Address, bool) {
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return Address{}, false
	}
	ip = ip.Unmap()
	bits, _ := a.Mask.Size()
	ad := Address{
		Prefix:     netip.PrefixFrom(ip, bits),
		Addr:       ip,
		Scope:      Scope(a.Scope),
		Tentative:  a.Flags&unix.IFA_F_TENTATIVE != 0,
		DADFailed:  a.Flags&unix.IFA_F_DADFAILED != 0,
		Optimistic: a.Flags&unix.IFA_F_OPTIMISTIC != 0,
		Secondary:  a.Flags&unix.IFA_F_SECONDARY != 0,
		Deprecated: a.Flags&unix.IFA_F_DEPRECATED != 0,
		Permanent:  a.Flags&unix.IFA_F_PERMANENT != 0,
	}
	if linkLocal6(ip) {
		ad.Addr = ip.WithZone(ifname)
	}
	return ad, true
}

// Changes starts netlink subscriptions to address and link changes in the
// namespace. The returned channel receives a value (coalesced) after each
// change and is closed once done is closed, or early if a subscription
// fails; the caller then stops trusting it.
func (src Source) Changes(done <-chan struct{}) (<-chan struct{}, error) {
	stop := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }) }
	onErr := func(err error) { slog.Debug("netlink subscription", "err", err) }

	var nsOpt *netns.NsHandle
	if src.other {
		nsOpt = &src.ns
	}
	addrCh := make(chan netlink.AddrUpdate, 16)
	if err := netlink.AddrSubscribeWithOptions(addrCh, stop, netlink.AddrSubscribeOptions{Namespace: nsOpt, ErrorCallback: onErr}); err != nil {
		return nil, fmt.Errorf("subscribing to address changes: %w", err)
	}
	linkCh := make(chan netlink.LinkUpdate, 16)
	if err := netlink.LinkSubscribeWithOptions(linkCh, stop, netlink.LinkSubscribeOptions{Namespace: nsOpt, ErrorCallback: onErr}); err != nil {
		halt()
		go drain(addrCh)
		return nil, fmt.Errorf("subscribing to link changes: %w", err)
	}
	out := make(chan struct{}, 1)
	go func() {
		<-done
		halt()
	}()
	go func() {
		defer close(out)
		// Both subscriptions are read until netlink closes them, which it
		// does once stop closes its socket, so neither goroutine blocks.
		defer func() { halt(); drain(addrCh); drain(linkCh) }()
		for {
			select {
			case _, ok := <-addrCh:
				if !ok {
					return
				}
			case _, ok := <-linkCh:
				if !ok {
					return
				}
			}
			select {
			case out <- struct{}{}:
			default: // a notice is already pending; one re-read covers both
			}
		}
	}()
	return out, nil
}

func drain[T any](ch <-chan T) {
	for range ch {
	}
}

// LocalAddrs lists the addresses of this namespace a listener can bind now
// (Snapshot.LocalAddrs): the one answer to "which addresses are this
// host's own", for the daemon's peer judge and the audit alike.
func (src Source) LocalAddrs() ([]netip.Addr, error) {
	snap, err := src.Gather()
	if err != nil {
		return nil, err
	}
	return snap.LocalAddrs(), nil
}
