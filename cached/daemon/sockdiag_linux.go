package daemon

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tcpEstablished is the kernel's TCP_ESTABLISHED state.
const tcpEstablished = 1

// establishedPeers lists the remote address of every established TCP
// connection to one of ports, from the kernel's socket table (sock_diag,
// what `ss` reads). The kernel's view is the proof that a connection the
// daemon shut down is really gone, whichever goroutine or loop held it.
func establishedPeers(ports []uint16) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := netlink.SocketDiagTCP(fam)
		if err != nil {
			return nil, fmt.Errorf("listing TCP sockets over sock_diag: %w", err)
		}
		for _, s := range socks {
			if s.State != tcpEstablished || !slices.Contains(ports, s.ID.SourcePort) {
				continue
			}
			if a, ok := netip.AddrFromSlice(s.ID.Destination); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	return out, nil
}
