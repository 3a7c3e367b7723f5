package firewall

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cachectl/cachectl/netinfo"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

const testPort = 11211

// realApplier is the production Exec aimed at the test's namespace.
func realApplier(t testing.TB, ns *nstest.NS) *Exec {
	t.Helper()
	nstest.RequireRoot(t, "iptables", "iptables-restore", "iptables-save", "ip6tables", "ip6tables-restore", "ip6tables-save")
	e, err := NewExec(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range netinfo.Families {
		if err := e.Available(f); err != nil {
			nstest.Unavailable(t, "%s: %v", f, err)
		}
	}
	return e
}

var (
	counters = regexp.MustCompile(`\[\d+:\d+\]`)
	// initval is a set's random hash seed, new whenever a set is created
	// (each apply swaps in a fresh one): internal, like counters.
	initval = regexp.MustCompile(` initval 0x[0-9a-f]+`)
)

// saveAll is both families' full iptables-save (every table) without the
// parts that change on their own: counters and the "Generated/Completed" comments.
func saveAll(t testing.TB, ns *nstest.NS) string {
	t.Helper()
	var b strings.Builder
	for _, bin := range []string{"iptables-save", "ip6tables-save"} {
		for _, l := range strings.Split(ns.MustRun(bin), "\n") {
			if strings.HasPrefix(l, "#") {
				continue
			}
			b.WriteString(counters.ReplaceAllString(l, "[0:0]") + "\n")
		}
	}
	if _, err := exec.LookPath("ipset"); err == nil {
		// Members come out in hash order, which a swap may change.
		sets := strings.Split(strings.TrimSpace(ns.MustRun("ipset", "save")), "\n")
		slices.Sort(sets)
		b.WriteString(initval.ReplaceAllString(strings.Join(sets, "\n"), ""))
	}
	return b.String()
}

// serve listens on the cache port in ns (both families) and greets every
// connection, standing in for the daemon.
func serve(t testing.TB, ns *nstest.NS) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf("[::]:%d", testPort)) // dual-stack
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello\n")
			c.Close()
		}
	}()
}

// greet connects from client to addr and expects the greeting.
func greet(ns *nstest.NS, addr netip.Addr) error {
	c, err := ns.Dial(netip.AddrPortFrom(addr, testPort), 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading greeting: %w", err)
	}
	if line != "hello\n" {
		return fmt.Errorf("greeting %q", line)
	}
	return nil
}

// refused requires an immediate connection refused (tcp-reset), not a timeout.
func refused(t *testing.T, ns *nstest.NS, addr netip.Addr) {
	t.Helper()
	start := time.Now()
	err := greet(ns, addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect from %s to %s: got %v, want connection refused", ns.Name, addr, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %s; tcp-reset should answer at once", d)
	}
}

func allowed(t *testing.T, ns *nstest.NS, addr netip.Addr) {
	t.Helper()
	if err := greet(ns, addr); err != nil {
		t.Errorf("connect from %s to %s: %v, want the greeting", ns.Name, addr, err)
	}
}

func specFor(s *nstest.Star, clients ...int) Spec {
	sp := Spec{Port: testPort, Loopback: true}
	for _, i := range clients {
		sp.Allow = append(sp.Allow, netip.PrefixFrom(s.Client4[i], 32), netip.PrefixFrom(s.Client6[i], 128))
	}
	return sp
}

func addHostRules(ns *nstest.NS) {
	ns.MustRun("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
	ns.MustRun("ip6tables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
}

func TestApplyEnforcesAllowlist(t *testing.T) {
	star := nstest.NewStar(t, 2)
	a := realApplier(t, star.Server)
	serve(t, star.Server)
	addHostRules(star.Server)
	before := saveAll(t, star.Server)
	ctx := context.Background()

	if _, err := Apply(ctx, a, specFor(star, 0), nil); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []netip.Addr{star.Addr4, star.Addr6} {
		allowed(t, star.Clients[0], addr)
		refused(t, star.Clients[1], addr)
	}
	first := saveAll(t, star.Server)
	if !strings.Contains(first, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT") {
		t.Errorf("the host's own INPUT rule is gone:\n%s", first)
	}
	if _, err := Apply(ctx, a, specFor(star, 0), nil); err != nil {
		t.Fatal(err)
	}
	if second := saveAll(t, star.Server); second != first {
		t.Errorf("applying twice changed the tables:\n%s", nstest.LineDiff(first, second))
	}

	// Each apply rebuilds the chains, which resets their counters: count
	// fresh attempts.
	allowed(t, star.Clients[0], star.Addr4)
	allowed(t, star.Clients[0], star.Addr6)
	refused(t, star.Clients[1], star.Addr4)
	refused(t, star.Clients[1], star.Addr6)
	st, err := ReadStatus(ctx, a, specFor(star, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, fs := range st.Families {
		if !fs.Installed || !fs.InSync || !fs.JumpFirst {
			t.Errorf("%s: installed=%v in_sync=%v jump_first=%v diff=%s", fs.Family, fs.Installed, fs.InSync, fs.JumpFirst, fs.Diff)
		}
		if n := counterOf(fs, "cachectl: default reject tcp"); n < 1 {
			t.Errorf("%s: default reject counter = %d after a refused attempt, want >= 1", fs.Family, n)
		}
		if n := counterOf(fs, "cachectl: allow "+specFor(star, 0).Allow[map[netinfo.Family]int{netinfo.IPv4: 0, netinfo.IPv6: 1}[fs.Family]].String()); n < 1 {
			t.Errorf("%s: allow counter = %d after an allowed connection, want >= 1", fs.Family, n)
		}
	}
	if st, err := ReadStatus(ctx, a, specFor(star, 1)); err != nil || st.OK() {
		t.Errorf("status against another allowlist: ok=%v err=%v, want drift", st.OK(), err)
	}

	if _, err := Remove(ctx, a); err != nil {
		t.Fatal(err)
	}
	if after := saveAll(t, star.Server); after != before {
		t.Errorf("remove did not restore the tables:\n%s", nstest.LineDiff(before, after))
	}
	allowed(t, star.Clients[1], star.Addr4)
}

func counterOf(fs FamilyStatus, comment string) uint64 {
	for _, r := range fs.Rules {
		if r.Comment == comment {
			return r.Packets
		}
	}
	return 0
}

// breakFamily makes the real load of one family's rendered ruleset fail
// midway (rollback payloads pass): a line iptables-restore rejects is
// added after the rules, which --test does not see.
type breakFamily struct {
	Applier
	family netinfo.Family
}

func (b breakFamily) Restore(ctx context.Context, f netinfo.Family, payload []byte, mode RestoreMode) error {
	if f == b.family && mode == Load && strings.HasPrefix(string(payload), RestoreHeader(f)) {
		bad := strings.Replace(string(payload), "COMMIT\n", "-A "+InputChain+" -j NO-SUCH-CHAIN\nCOMMIT\n", 1)
		payload = []byte(bad)
	}
	return b.Applier.Restore(ctx, f, payload, mode)
}

func TestApplyFailureKeepsPreviousRules(t *testing.T) {
	star := nstest.NewStar(t, 2)
	a := realApplier(t, star.Server)
	serve(t, star.Server)
	addHostRules(star.Server)
	ctx := context.Background()
	clean := saveAll(t, star.Server)

	// From nothing installed: a v6 failure must leave v4 not installed too.
	_, err := Apply(ctx, breakFamily{a, netinfo.IPv6}, specFor(star, 0), nil)
	var re *RestoreError
	if !errors.As(err, &re) || re.Line == 0 || !strings.Contains(re.Context, "NO-SUCH-CHAIN") {
		t.Fatalf("Apply with a broken v6 load: %v, want a RestoreError naming the line", err)
	}
	t.Logf("the operator sees: %v", err)
	if got := saveAll(t, star.Server); got != clean {
		t.Errorf("failed first apply left changes:\n%s", nstest.LineDiff(clean, got))
	}

	// From an installed allowlist (client 0): switching to client 1 fails
	// on v6, so both families keep client 0's rules.
	if _, err := Apply(ctx, a, specFor(star, 0), nil); err != nil {
		t.Fatal(err)
	}
	installed := saveAll(t, star.Server)
	if _, err := Apply(ctx, breakFamily{a, netinfo.IPv6}, specFor(star, 1), nil); err == nil {
		t.Fatal("Apply with a broken v6 load succeeded")
	}
	if got := saveAll(t, star.Server); got != installed {
		t.Errorf("failed apply changed the rules in force:\n%s", nstest.LineDiff(installed, got))
	}
	for _, addr := range []netip.Addr{star.Addr4, star.Addr6} {
		allowed(t, star.Clients[0], addr)
		refused(t, star.Clients[1], addr)
	}
}

func TestRestoreErrorNamesLine(t *testing.T) {
	ns := nstest.New(t)
	a := realApplier(t, ns)
	payload := []byte("*filter\n:CACHECTL-INPUT - [0:0]\n-A CACHECTL-INPUT -p tcp --dport 1 -j ACCEPT\n-A CACHECTL-INPUT --bogus -j ACCEPT\nCOMMIT\n")
	err := a.Restore(context.Background(), netinfo.IPv4, payload, Check)
	var re *RestoreError
	if !errors.As(err, &re) {
		t.Fatalf("Restore(bad) = %v, want *RestoreError", err)
	}
	if re.Line != 4 || !strings.Contains(re.Context, ">    4  -A CACHECTL-INPUT --bogus") || !strings.Contains(re.Context, "   3  ") {
		t.Errorf("error does not point at line 4 with its neighbours:\n%v", err)
	}
}

func TestApplyLargeAllowlistWithIPSet(t *testing.T) {
	star := nstest.NewStar(t, 2)
	nstest.RequireCommands(t, "ipset")
	a := realApplier(t, star.Server)
	serve(t, star.Server)
	addHostRules(star.Server)
	before := saveAll(t, star.Server)
	big := specFor(star, 0)
	big.Allow = append(big.Allow, peers(2000)...)
	big.Allow = append(big.Allow, peers6(300)...)

	if _, err := Apply(ctx, a, big, nil); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []netip.Addr{star.Addr4, star.Addr6} {
		allowed(t, star.Clients[0], addr)
		refused(t, star.Clients[1], addr)
	}
	first := saveAll(t, star.Server)
	if !strings.Contains(first, "--match-set "+SetName(netinfo.IPv4)+" src") || !strings.Contains(first, "add "+SetName(netinfo.IPv6)+" fd64::12b") {
		t.Fatalf("no set in use:\n%.2000s", first)
	}
	if _, err := Apply(ctx, a, big, nil); err != nil {
		t.Fatal(err)
	}
	if second := saveAll(t, star.Server); second != first {
		t.Errorf("applying twice changed the tables:\n%s", nstest.LineDiff(first, second))
	}
	if st, err := ReadStatus(ctx, a, big); err != nil || !st.OK() {
		t.Errorf("status: %+v %v", st, err)
	}

	// A failing v6 load while switching to a small list keeps the sets.
	if _, err := Apply(ctx, breakFamily{a, netinfo.IPv6}, specFor(star, 1), nil); err == nil {
		t.Fatal("broken apply succeeded")
	}
	if got := saveAll(t, star.Server); got != first {
		t.Errorf("failed apply changed the rules in force:\n%s", nstest.LineDiff(first, got))
	}

	// Shrinking below the threshold drops the sets; Remove leaves nothing.
	if _, err := Apply(ctx, a, specFor(star, 1), nil); err != nil {
		t.Fatal(err)
	}
	allowed(t, star.Clients[1], star.Addr6)
	refused(t, star.Clients[0], star.Addr4)
	if out := star.Server.MustRun("ipset", "list", "-n"); strings.TrimSpace(out) != "" {
		t.Errorf("sets left after shrinking: %s", out)
	}
	if _, err := Apply(ctx, a, big, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Remove(ctx, a); err != nil {
		t.Fatal(err)
	}
	if after := saveAll(t, star.Server); after != before {
		t.Errorf("remove did not restore the tables:\n%s", nstest.LineDiff(before, after))
	}
}

func TestStatusWarnsAboutBypasses(t *testing.T) {
	ns := nstest.New(t)
	a := realApplier(t, ns)
	s := Spec{Port: testPort, Loopback: true}
	if _, err := Apply(ctx, a, s, nil); err != nil {
		t.Fatal(err)
	}
	ns.MustRun("iptables", "-I", "INPUT", "1", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
	ns.MustRun("iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "11211", "-j", "DNAT", "--to-destination", "10.1.2.3:11211")
	st, err := ReadStatus(ctx, a, s)
	if err != nil {
		t.Fatal(err)
	}
	v4 := st.Families[0]
	ws := strings.Join(v4.Warnings, "\n")
	if v4.JumpFirst || !strings.Contains(ws, "not rule #1") || !strings.Contains(ws, "--to-destination 10.1.2.3:11211") {
		t.Errorf("warnings:\n%s", ws)
	}
	if v4.Env.Backend != "nf_tables" && v4.Env.Backend != "legacy" {
		t.Errorf("backend %q", v4.Env.Backend)
	}
	if !st.OK() {
		t.Errorf("rules are in sync, status not OK: %s", v4.Diff)
	}
	// Applying again does not move the jump: cachectl never reorders INPUT.
	if _, err := Apply(ctx, a, s, nil); err != nil {
		t.Fatal(err)
	}
	if out := ns.MustRun("iptables", "-S", "INPUT", "1"); !strings.Contains(out, "--dport 22") {
		t.Errorf("INPUT rule 1 is now %s", out)
	}
}
