// Package nstest builds throwaway network namespaces for tests that need a
// real kernel: veth links, addresses, processes and sockets inside them.
//
// Everything a test creates is removed by t.Cleanup, by name. Tests that
// cannot run here (not root, a tool missing) skip, except under CI=true where
// a skip would hide a broken environment, so they fail instead.
//
// It is also the one home of the golden-file check (Golden, and the -update
// flag it registers) that the packages' text and JSON tests share.
package nstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// InCI reports whether the tests run under CI, where skipping is a failure.
func InCI() bool { return os.Getenv("CI") != "" && os.Getenv("CI") != "false" }

// Unavailable skips the test, or fails it under CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("required under CI: %s", msg)
	}
	t.Skip(msg)
}

// RequireRoot needs uid 0 and the given commands on PATH (ip is always needed).
func RequireRoot(t testing.TB, commands ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root")
	}
	RequireCommands(t, append([]string{"ip"}, commands...)...)
}

// RequireCommands needs every named command on PATH.
func RequireCommands(t testing.TB, commands ...string) {
	t.Helper()
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			Unavailable(t, "needs %s on PATH (make deps installs it)", c)
		}
	}
}

var seq atomic.Uint32

// uniqueName returns a short name unique to this process and call, kept
// within IFNAMSIZ (15) so it also serves for interface names.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d-%d", prefix, os.Getpid()%100000, seq.Add(1))
}

// NS is one network namespace made for a test.
type NS struct {
	Name string
	t    testing.TB
}

// New creates a namespace with loopback up; cleanup kills what runs in it
// and deletes it.
func New(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	ns := &NS{Name: uniqueName("ct"), t: t}
	mustRun(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "pids", ns.Name).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				_ = exec.Command("kill", "-9", pid).Run()
			}
		}
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Logf("deleting netns %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.MustRun("ip", "link", "set", "lo", "up")
	return ns
}

// Run runs a command inside the namespace and returns its combined output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in netns %s: %w: %s", name, strings.Join(args, " "), ns.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (ns *NS) MustRun(name string, args ...string) string {
	ns.t.Helper()
	out, err := ns.Run(name, args...)
	if err != nil {
		ns.t.Fatal(err)
	}
	return out
}

// Command prepares a command that will run inside the namespace. The caller
// starts it; Start registers a cleanup that kills it.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Start starts a long-running command in the namespace, killed at cleanup.
func (ns *NS) Start(name string, args ...string) *exec.Cmd {
	ns.t.Helper()
	cmd := ns.Command(context.Background(), name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		ns.t.Fatalf("starting %s in %s: %v", name, ns.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	ns.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		if ns.t.Failed() {
			ns.t.Logf("output of %s in %s:\n%s", name, ns.Name, out.String())
		}
	})
	return cmd
}

// Do runs f on an OS thread switched into the namespace. Sockets created by
// f stay in the namespace after the thread switches back.
func (ns *NS) Do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("getting current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns.Name)
	if err != nil {
		return fmt.Errorf("opening netns %s: %w", ns.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("entering netns %s: %w", ns.Name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// A thread stuck in the wrong namespace must not be reused.
			panic(fmt.Sprintf("returning from netns %s: %v", ns.Name, err))
		}
	}()
	return f()
}

// Dial opens a TCP connection from inside the namespace.
func (ns *NS) Dial(addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr.String(), timeout)
		return err
	})
	return c, err
}

// Handle opens the namespace for netlink or conntrack use; closed at cleanup.
func (ns *NS) Handle() netns.NsHandle {
	ns.t.Helper()
	h, err := netns.GetFromName(ns.Name)
	if err != nil {
		ns.t.Fatalf("opening netns %s: %v", ns.Name, err)
	}
	ns.t.Cleanup(func() { h.Close() })
	return h
}

// Link joins a and b with a veth pair and assigns the given addresses.
// IPv6 addresses are added with nodad so they are usable at once. It
// returns the interface names on a's and b's side.
func Link(t testing.TB, a, b *NS, aAddrs, bAddrs []netip.Prefix) (aIf, bIf string) {
	t.Helper()
	aIf, bIf = uniqueName("va"), uniqueName("vb")
	mustRun(t, "ip", "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	a.AddAddrs(aIf, aAddrs...)
	b.AddAddrs(bIf, bAddrs...)
	a.MustRun("ip", "link", "set", aIf, "up")
	b.MustRun("ip", "link", "set", bIf, "up")
	return aIf, bIf
}

// AddAddrs assigns addresses to an interface in the namespace.
func (ns *NS) AddAddrs(ifname string, addrs ...netip.Prefix) {
	ns.t.Helper()
	for _, p := range addrs {
		args := []string{"addr", "add", p.String(), "dev", ifname}
		if p.Addr().Is6() {
			args = append(args, "nodad")
		}
		ns.MustRun("ip", args...)
	}
}

// Star is a server namespace with a bridge and one client namespace per
// client, all on one IPv4 /24 and one IPv6 /64.
type Star struct {
	Server  *NS
	Bridge  string         // bridge interface in Server carrying its addresses
	Addr4   netip.Addr     // server's IPv4 address on the bridge
	Addr6   netip.Addr     // server's IPv6 address on the bridge
	Clients []*NS          // client namespaces
	Client4 []netip.Addr   // IPv4 address of each client
	Client6 []netip.Addr   // IPv6 address of each client
	Prefix4 netip.Prefix   // the shared IPv4 subnet
	Prefix6 netip.Prefix   // the shared IPv6 subnet
	ifaces  map[*NS]string // client interface names
}

// NewStar builds a server and n clients on 10.213.0.0/24 and fd00:213::/64:
// server .1 / ::1, client i at .(10+i) / ::(10+i), hex-free so they read alike.
func NewStar(t testing.TB, n int) *Star {
	t.Helper()
	s := &Star{
		Server:  New(t),
		Bridge:  uniqueName("br"),
		Addr4:   netip.MustParseAddr("10.213.0.1"),
		Addr6:   netip.MustParseAddr("fd00:213::1"),
		Prefix4: netip.MustParsePrefix("10.213.0.0/24"),
		Prefix6: netip.MustParsePrefix("fd00:213::/64"),
		ifaces:  map[*NS]string{},
	}
	s.Server.MustRun("ip", "link", "add", s.Bridge, "type", "bridge")
	s.Server.AddAddrs(s.Bridge, netip.PrefixFrom(s.Addr4, 24), netip.PrefixFrom(s.Addr6, 64))
	s.Server.MustRun("ip", "link", "set", s.Bridge, "up")
	for i := 0; i < n; i++ {
		c := New(t)
		a4 := netip.AddrFrom4([4]byte{10, 213, 0, byte(10 + i)})
		a6 := netip.MustParseAddr(fmt.Sprintf("fd00:213::%d", 10+i))
		port, cif := uniqueName("vp"), uniqueName("vc")
		mustRun(t, "ip", "link", "add", port, "netns", s.Server.Name, "type", "veth", "peer", "name", cif, "netns", c.Name)
		s.Server.MustRun("ip", "link", "set", port, "master", s.Bridge)
		s.Server.MustRun("ip", "link", "set", port, "up")
		c.AddAddrs(cif, netip.PrefixFrom(a4, 24), netip.PrefixFrom(a6, 64))
		c.MustRun("ip", "link", "set", cif, "up")
		s.Clients = append(s.Clients, c)
		s.Client4 = append(s.Client4, a4)
		s.Client6 = append(s.Client6, a6)
		s.ifaces[c] = cif
	}
	return s
}

// ClientIface is the name of client c's interface towards the bridge.
func (s *Star) ClientIface(c *NS) string { return s.ifaces[c] }

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// WaitListening waits until something accepts TCP connections at addr from
// inside ns, or fails the test after timeout.
func (ns *NS) WaitListening(addr netip.AddrPort, timeout time.Duration) {
	ns.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := ns.Dial(addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			ns.t.Fatalf("nothing listening on %s in netns %s after %s: %v", addr, ns.Name, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
