package main

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// TestAllowRevokeAreInstant: with the firewall managed, a client connects
// the moment `allow` returns, with no sleep, and its connection is closed
// by the time `revoke` returns, 50 times in a row. Both commands name the
// daemon that confirmed.
func TestAllowRevokeAreInstant(t *testing.T) {
	nstest.RequireCommands(t, "iptables", "iptables-restore")
	star := nstest.NewStar(t, 1)
	srv, c1 := star.Server, star.Clients[0]
	const port = 11321
	f := writePolicy(t, fmt.Sprintf("version: 1\nbind:\n  port: %d\nfirewall:\n  managed: true\n", port))
	v4 := netip.AddrPortFrom(star.Addr4, port)
	peer := star.Client4[0].String()

	d := startCachectl(t, srv, "bind", "--iface", star.Bridge, "--policy", f)
	// The firewall resets the client until it is allowed: the log says when
	// the daemon listens.
	d.waitOutput(t, 10*time.Second, "cachectl daemon listening")

	for i := range 50 {
		out := mustCachectl(t, srv, "allow", peer, "--policy", f)
		if !strings.Contains(out, "loaded the new allowlist") || !strings.Contains(out, peer+"/32: admitted") {
			t.Fatalf("round %d: allow did not report the daemon's confirmation:\n%s", i, out)
		}
		c, err := dialMC(c1, v4)
		if err != nil {
			t.Fatalf("round %d: connect right after allow: %v", i, err)
		}
		if _, err := c.call("version\r\n", "VERSION"); err != nil {
			c.nc.Close()
			t.Fatalf("round %d: no reply right after allow: %v\nallow said:\n%s", i, err, out)
		}
		out = mustCachectl(t, srv, "revoke", peer, "--policy", f)
		if !strings.Contains(out, "closed its 1 live connection, none remain") {
			c.nc.Close()
			t.Fatalf("round %d: revoke did not confirm the close:\n%s", i, out)
		}
		c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.rd.ReadByte()
		c.nc.Close()
		if err == nil || isTimeout(err) {
			t.Fatalf("round %d: the connection is still open after revoke returned: %v", i, err)
		}
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("bind exited %d after SIGTERM, want 0", code)
	}
}

// TestAllowWithoutDaemon: with nothing serving the policy, allow says so
// and still succeeds.
func TestAllowWithoutDaemon(t *testing.T) {
	f := writePolicy(t, "version: 1\n")
	var out, errOut strings.Builder
	a := newApp(strings.NewReader(""), &out, &errOut)
	a.getenv = func(string) string { return "" }
	if code := a.run([]string{"allow", "192.0.2.1", "--policy", f}); code != exitOK {
		t.Fatalf("allow exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "no running daemon serves this policy") {
		t.Errorf("allow did not say that no daemon runs:\n%s", out.String())
	}
}
