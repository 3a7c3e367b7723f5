package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo/nstest"
	"github.com/cachectl/cachectl/policy"
)

// TestBindEnforcesThePolicy is the operator's whole story in a server
// namespace with two client namespaces: allow client 1, bind to the bridge,
// serve client 1 over IPv4 and IPv6, turn client 2 away and count it, let it
// in with allow (no restart), throw it out with revoke, keep the allowlist
// when the file turns bad, and stop cleanly on SIGTERM.
func TestBindEnforcesThePolicy(t *testing.T) {
	star := nstest.NewStar(t, 2)
	srv, c1, c2 := star.Server, star.Clients[0], star.Clients[1]
	f := filepath.Join(t.TempDir(), "policy.yaml")
	const port = 11311
	v4, v6 := netip.AddrPortFrom(star.Addr4, port), netip.AddrPortFrom(star.Addr6, port)

	mustCachectl(t, srv, "allow", star.Client4[0].String(), star.Client6[0].String(), "--policy", f)
	d := startCachectl(t, srv, "bind", "--iface", star.Bridge, "--policy", f, "-p", "11311")
	c1.WaitListening(v4, 10*time.Second)
	c1.WaitListening(v6, 10*time.Second)
	d.waitOutput(t, 5*time.Second, "peers allowed to connect (policy "+f+"): loopback (127.0.0.0/8, ::1), 10.213.0.10/32, fd00:213::10/128",
		"cachectl allow ADDR --policy "+f)

	setGet(t, c1, v4, "k4", "over ipv4")
	setGet(t, c1, v6, "k6", "over ipv6")
	p, err := policy.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Bind; len(got.Interfaces) != 1 || got.Interfaces[0] != star.Bridge || got.Port != port || len(got.Addresses) != 0 {
		t.Errorf("recorded binding %+v, want interface %s port %d", got, star.Bridge, port)
	}

	// Client 2 is not allowed: the daemon hangs up on it and counts it.
	deniedBefore := stat(t, c1, v4, "denied_connections")
	requireDenied(t, c2, v4)
	requireDenied(t, c2, v6)
	if got := stat(t, c1, v4, "denied_connections"); got != deniedBefore+2 {
		t.Errorf("denied_connections = %d, want %d", got, deniedBefore+2)
	}
	d.waitOutput(t, 5*time.Second, "connection denied by policy", "peer=10.213.0.11", "peer=fd00:213::11")

	// allow lets it in without a restart (the daemon watches the file).
	mustCachectl(t, srv, "allow", star.Client4[1].String(), "--policy", f)
	waitFor(t, 10*time.Second, "admission of client 2 after allow", func() bool { return admitted(c2, v4) })
	d.waitOutput(t, 5*time.Second, `msg="allowlist reloaded" trigger="file changed"`)

	// revoke closes client 2's live connection.
	live, err := dialMC(c2, v4)
	if err != nil {
		t.Fatal(err)
	}
	defer live.nc.Close()
	if _, err := live.call("version\r\n", "VERSION"); err != nil {
		t.Fatalf("client 2 after allow: %v", err)
	}
	mustCachectl(t, srv, "revoke", star.Client4[1].String(), "--policy", f)
	live.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := live.rd.ReadByte(); err == nil || isTimeout(err) {
		t.Fatalf("client 2's connection still open after revoke: %v", err)
	}
	d.waitOutput(t, 5*time.Second, "closing connection from peer no longer allowed")
	requireDenied(t, c2, v4)

	// A broken policy file is logged and the allowlist in force stays.
	if err := os.WriteFile(f, []byte("version: 1\npeers: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.waitOutput(t, 5*time.Second, "the previous allowlist stays in force")
	if !admitted(c1, v4) || !admitted(c1, v6) {
		t.Error("client 1 lost access when the policy file broke")
	}
	requireDenied(t, c2, v4)

	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("bind exited %d after SIGTERM, want 0", code)
	}
	d.waitOutput(t, time.Second, "cachectl daemon stopped")
}

// TestBindReloadsOnSIGHUP edits the policy where the daemon's file watch
// cannot see it (the daemon reads it through a symlink in another
// directory), so only SIGHUP can bring the change in. It also binds from
// the binding the policy recorded, without --iface.
func TestBindReloadsOnSIGHUP(t *testing.T) {
	star := nstest.NewStar(t, 1)
	srv, c1 := star.Server, star.Clients[0]
	real := filepath.Join(t.TempDir(), "policy.yaml")
	link := filepath.Join(t.TempDir(), "policy.yaml")
	const port = 11312
	v4 := netip.AddrPortFrom(star.Addr4, port)
	// Record exactly the binding bind would, so bind has nothing to write and
	// leaves the symlink in place.
	if _, err := policy.Edit(real, func(p *policy.Policy) error {
		p.Bind = policy.Bind{Interfaces: []string{star.Bridge}, Port: port}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	d := startCachectl(t, srv, "bind", "--policy", link)
	c1.WaitListening(v4, 10*time.Second)
	requireDenied(t, c1, v4)
	d.waitOutput(t, 5*time.Second, "loopback only")

	mustCachectl(t, srv, "allow", star.Client4[0].String(), "--policy", real)
	// Give the watch more than its debounce to (wrongly) act, then check
	// it did not: this is what makes the SIGHUP below the cause.
	time.Sleep(500 * time.Millisecond)
	requireDenied(t, c1, v4)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("bind replaced the symlink although the binding was unchanged: %v %v", fi, err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "admission of client 1 after SIGHUP", func() bool { return admitted(c1, v4) })
	d.waitOutput(t, 5*time.Second, `msg="allowlist reloaded" trigger=SIGHUP`)
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// TestBindRefusesAClientAddress is the classic mistake: the operator gives
// the client's address to listen on. bind must explain, exit 2, listen on
// nothing and leave the policy as it was.
func TestBindRefusesAClientAddress(t *testing.T) {
	nstest.RequireRoot(t, "ss")
	star := nstest.NewStar(t, 1)
	srv := star.Server
	f := filepath.Join(t.TempDir(), "policy.yaml")
	mustCachectl(t, srv, "allow", star.Client4[0].String(), "--policy", f)
	before, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	// A down interface with an address, to refuse for the right reason.
	srv.MustRun("ip", "link", "add", "dn0", "type", "veth", "peer", "name", "dn1")
	srv.MustRun("ip", "addr", "add", "10.214.0.1/24", "dev", "dn0")

	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"client's IPv4 address", []string{"bind", "--addr", "10.213.0.10"}, []string{
			"10.213.0.10 is not an address of this host", "--addr and -l choose a LOCAL address to listen on",
			"10.213.0.1", "fd00:213::1", "run 'cachectl allow 10.213.0.10'", "nothing is listening and the policy file is unchanged"}},
		{"client's IPv6 address", []string{"bind", "--addr", "fd00:213::10"}, []string{
			"fd00:213::10 is not an address of this host", "cachectl allow fd00:213::10"}},
		{"unknown interface", []string{"bind", "--iface", "eth9"}, []string{`no interface named "eth9"`, star.Bridge}},
		{"down interface", []string{"bind", "--iface", "dn0"}, []string{"interface dn0 is down", "ip link set dn0 up"}},
		{"no address of the family", []string{"bind", "--iface", "dn1"}, []string{"interface dn1"}},
		{"serve -l with the client's address", []string{"serve", "-l", "10.213.0.10"}, []string{
			"10.213.0.10 is not an address of this host", "cachectl allow 10.213.0.10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "--policy", f, "-p", "11313")
			if tt.args[0] == "serve" {
				args = append(tt.args, "-p", "11313")
			}
			code, out := runCachectl(t, srv, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d:\n%s", code, exitUsage, out)
			}
			mustContain(t, "output", out, tt.wants...)
			if ss := srv.MustRun("ss", "-Hltn"); strings.Contains(ss, ":11313") {
				t.Errorf("something listens after the refusal:\n%s", ss)
			}
			after, err := os.ReadFile(f)
			if err != nil || string(after) != string(before) {
				t.Errorf("policy file changed by a refused bind (%v):\n%s", err, after)
			}
		})
	}
	if _, err := star.Clients[0].Dial(netip.AddrPortFrom(star.Addr4, 11313), time.Second); err == nil {
		t.Error("a client could connect after every bind was refused")
	}
}

// TestBindWaitsForTheAddress starts bind before its address exists, as on a
// host whose network comes up after the cache; the address arrives a second
// later and bind must then serve on it.
func TestBindWaitsForTheAddress(t *testing.T) {
	star := nstest.NewStar(t, 1)
	srv, c1 := star.Server, star.Clients[0]
	f := filepath.Join(t.TempDir(), "policy.yaml")
	mustCachectl(t, srv, "allow", star.Client4[0].String(), "--policy", f)
	late := netip.MustParseAddr("10.213.0.2")
	d := startCachectl(t, srv, "bind", "--addr", late.String(), "--wait", "10s", "--policy", f, "-p", "11314")
	d.waitOutput(t, 5*time.Second, "waiting up to 10s")
	time.Sleep(time.Second)
	select {
	case <-d.done:
		t.Fatalf("bind gave up before the address arrived:\n%s", d.out.String())
	default:
	}
	srv.MustRun("ip", "addr", "add", late.String()+"/24", "dev", star.Bridge)
	at := netip.AddrPortFrom(late, 11314)
	c1.WaitListening(at, 10*time.Second)
	setGet(t, c1, at, "late", "arrived")
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// TestBindWaitGivesUp checks that --wait ends with the last reason.
func TestBindWaitGivesUp(t *testing.T) {
	ns := nstest.New(t)
	f := filepath.Join(t.TempDir(), "policy.yaml")
	start := time.Now()
	code, out := runCachectl(t, ns, "bind", "--addr", "10.215.0.1", "--wait", "1s", "--policy", f, "-p", "11315")
	if code != exitUsage {
		t.Errorf("exit %d, want %d:\n%s", code, exitUsage, out)
	}
	mustContain(t, "output", out, "waited 1", "10.215.0.1 is not an address of this host")
	if time.Since(start) < time.Second {
		t.Errorf("returned after %s, before the wait was over", time.Since(start))
	}
	if _, err := os.Stat(f); !os.IsNotExist(err) {
		t.Errorf("policy file created by a refused bind: %v", err)
	}
}

// TestBindLinkLocalOnly binds an interface that has only its kernel-made
// IPv6 link-local address: bind must wait out DAD and listen on it with the
// interface as zone, where a zoneless bind would fail.
func TestBindLinkLocalOnly(t *testing.T) {
	nstest.RequireRoot(t, "ss")
	ns := nstest.New(t)
	ns.MustRun("ip", "link", "add", "ll0", "type", "veth", "peer", "name", "ll1")
	ns.MustRun("ip", "link", "set", "ll0", "up")
	ns.MustRun("ip", "link", "set", "ll1", "up")
	f := filepath.Join(t.TempDir(), "policy.yaml")
	mustCachectl(t, ns, "allow", "fe80::/10", "--policy", f)
	d := startCachectl(t, ns, "bind", "--iface", "ll0", "--family", "6", "--wait", "10s", "--policy", f, "-p", "11316")
	d.waitOutput(t, 15*time.Second, "cachectl daemon listening")
	ss := ns.MustRun("ss", "-Hltn", "sport", "= :11316")
	if !strings.Contains(ss, "]%ll0:11316") {
		t.Fatalf("not listening on ll0's link-local address with its zone:\n%s\n%s", ss, d.out.String())
	}
	// ss writes [fe80::x]%ll0:11316; the daemon logs [fe80::x%ll0]:11316.
	var at netip.AddrPort
	for _, field := range strings.Fields(ss) {
		if strings.HasSuffix(field, "%ll0:11316") {
			a, err := netip.ParseAddr(strings.Trim(strings.TrimSuffix(field, "%ll0:11316"), "[]"))
			if err == nil {
				at = netip.AddrPortFrom(a.WithZone("ll0"), 11316)
			}
		}
	}
	if !at.IsValid() {
		t.Fatalf("no listen address in %q", ss)
	}
	d.waitOutput(t, time.Second, "addrs=["+at.Addr().String()+"]:11316")
	setGet(t, ns, at, "ll", "link-local")
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// TestBindEverywhere listens on the wildcard only because it is asked to,
// warns because the policy lets every peer in, and keeps the wildcard out of
// the policy file.
func TestBindEverywhere(t *testing.T) {
	star := nstest.NewStar(t, 1)
	f := filepath.Join(t.TempDir(), "policy.yaml")
	mustCachectl(t, star.Server, "allow", "0.0.0.0/0", "--policy", f)
	d := startCachectl(t, star.Server, "bind", "--addr", "0.0.0.0", "--policy", f, "-p", "11317")
	d.waitOutput(t, 10*time.Second, "cachectl daemon listening", "WARNING: listening on every local address while the policy allows every peer (0.0.0.0/0)")
	setGet(t, star.Clients[0], netip.AddrPortFrom(star.Addr4, 11317), "any", "where")
	// 0.0.0.0 is every IPv4 address only, as memcached binds it; Go's
	// dual-stack socket had let IPv6 clients in too.
	if nc, err := star.Clients[0].Dial(netip.AddrPortFrom(star.Addr6, 11317), 2*time.Second); err == nil {
		nc.Close()
		t.Errorf("an IPv6 client reached --addr 0.0.0.0 on [%s]:11317", star.Addr6)
	}
	p, err := policy.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Bind.Addresses) != 0 || p.Bind.Port != 11317 {
		t.Errorf("recorded binding %+v: the wildcard must not be recorded", p.Bind)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// TestBindBothWildcards: --addr 0.0.0.0 --addr :: is one socket per family
// on the same port (the second bind used to collide with Go's dual-stack
// socket), and clients of both families are served.
func TestBindBothWildcards(t *testing.T) {
	star := nstest.NewStar(t, 1)
	f := filepath.Join(t.TempDir(), "policy.yaml")
	mustCachectl(t, star.Server, "allow", star.Prefix4.String(), star.Prefix6.String(), "--policy", f)
	d := startCachectl(t, star.Server, "bind", "--addr", "0.0.0.0", "--addr", "::", "--policy", f, "-p", "11319")
	d.waitOutput(t, 10*time.Second, "cachectl daemon listening", "addrs=0.0.0.0:11319,[::]:11319",
		"every local IPv4 address (0.0.0.0)", "every local IPv6 address (::)")
	setGet(t, star.Clients[0], netip.AddrPortFrom(star.Addr4, 11319), "v4", "four")
	setGet(t, star.Clients[0], netip.AddrPortFrom(star.Addr6, 11319), "v6", "six")
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// TestBindStopsCleanlyWhileWaiting: SIGTERM during --wait is a clean stop.
func TestBindStopsCleanlyWhileWaiting(t *testing.T) {
	ns := nstest.New(t)
	f := filepath.Join(t.TempDir(), "policy.yaml")
	d := startCachectl(t, ns, "bind", "--addr", "10.216.0.1", "--wait", "30s", "--policy", f, "-p", "11318")
	d.waitOutput(t, 5*time.Second, "waiting up to 30s")
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM while waiting, want 0:\n%s", code, d.out.String())
	}
	if _, err := os.Stat(f); !os.IsNotExist(err) {
		t.Errorf("policy file written although nothing was bound: %v", err)
	}
}
