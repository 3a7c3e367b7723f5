package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/cachectl/cachectl/cached"
)

// PortFileEnv names the file memcached writes its bound ports to. Test
// harnesses and supervisors start the daemon with -p -1 (the kernel picks
// a free port) and read the ports back, so no two of them race for one.
const PortFileEnv = "MEMCACHED_PORT_FILENAME"

// writePortFile records the bound ports as memcached 1.6.18 does: one
// "TCP INET: <port>" (or INET6) line per listening socket, then the UDP
// ones, appended to NAME.lck and renamed to NAME once every socket is
// bound, so a reader never sees half a file. Like memcached it only warns
// when the file cannot be written: the daemon is up either way.
func writePortFile(name string, srv *cached.Server, listen []string) error {
	var b strings.Builder
	for _, ap := range srv.Addrs() {
		portLines(&b, "TCP", ap, len(listen) == 0)
	}
	for _, ap := range srv.UDPAddrs() {
		portLines(&b, "UDP", ap, len(listen) == 0)
	}
	tmp := name + ".lck"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return fmt.Errorf("Failed to open %q: %w", tmp, err)
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the port file %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("writing the port file: %w", err)
	}
	return nil
}

// portLines writes one socket's line. Without -l memcached binds one
// socket per address family, both listed; Go's wildcard socket serves both
// families on one port, so it is listed once for each.
func portLines(b *strings.Builder, transport string, ap netip.AddrPort, wildcard bool) {
	a := ap.Addr()
	switch {
	case a.Unmap().Is4():
		fmt.Fprintf(b, "%s INET: %d\n", transport, ap.Port())
	case wildcard && a.IsUnspecified():
		fmt.Fprintf(b, "%s INET: %d\n%s INET6: %d\n", transport, ap.Port(), transport, ap.Port())
	default:
		fmt.Fprintf(b, "%s INET6: %d\n", transport, ap.Port())
	}
}
