package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"

	"github.com/cachectl/cachectl/firewall"
)

// ctMaxPath is the table limit; writable only from the initial namespace.
const ctMaxPath = "/proc/sys/net/netfilter/nf_conntrack_max"

// auditLab is a throwaway namespace whose conntrack table the benchmark
// fills, and the sysctl it must give back.
type auditLab struct {
	ns         string
	cachectl   string
	dir        string
	policy     string
	conn       *conntrack.Conn
	filled     int
	cacheFlows int
	oldMax     string // "" when the limit was left alone
	daemon     *labDaemon
}

// labAddr is the cache's address inside the namespace.
var labAddr = netip.MustParseAddr("10.213.99.1")

func newAuditLab(cachectl string, need int) (l *auditLab, err error) {
	l = &auditLab{ns: fmt.Sprintf("cachectl-audit-scale-%d", os.Getpid()), cachectl: cachectl}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	if err := l.raiseMax(need); err != nil {
		return l, err
	}
	for _, argv := range [][]string{
		{"ip", "netns", "add", l.ns},
		{"ip", "-n", l.ns, "link", "add", "cache0", "type", "veth", "peer", "name", "cache1"},
		{"ip", "-n", l.ns, "addr", "add", labAddr.String() + "/24", "dev", "cache0"},
		{"ip", "-n", l.ns, "link", "set", "cache0", "up"},
		// The daemon refuses an address whose link has no carrier.
		{"ip", "-n", l.ns, "link", "set", "cache1", "up"},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return l, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
		}
	}
	if l.dir, err = os.MkdirTemp("", "cachectl-audit-scale-"); err != nil {
		return l, err
	}
	l.policy = filepath.Join(l.dir, "policy.yaml")
	if err := os.WriteFile(l.policy, []byte(auditPolicy(labAddr.String())), 0o644); err != nil {
		return l, err
	}
	return l, l.dial()
}

// dial applies cachectl's firewall in the namespace, as on a managed host
// (it is what makes the mark filter usable), and opens its conntrack table.
func (l *auditLab) dial() error {
	apply := exec.Command(l.cachectl, "apply", "--policy", l.policy, "--netns", l.ns)
	if out, err := apply.CombinedOutput(); err != nil {
		return fmt.Errorf("cachectl apply in %s: %w: %s", l.ns, err, out)
	}
	h, err := netns.GetFromName(l.ns)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", l.ns, err)
	}
	defer h.Close()
	if l.conn, err = conntrack.Dial(&netlink.Config{NetNS: int(h)}); err != nil {
		return fmt.Errorf("opening conntrack in %s: %w", l.ns, err)
	}
	return nil
}

// raiseMax lifts the table limit to need when it is lower, remembering the
// old value for close.
func (l *auditLab) raiseMax(need int) error {
	b, err := os.ReadFile(ctMaxPath)
	if err != nil {
		return fmt.Errorf("reading nf_conntrack_max (is nf_conntrack loaded?): %w", err)
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || cur >= need {
		return err
	}
	if err := os.WriteFile(ctMaxPath, []byte(strconv.Itoa(need)), 0o644); err != nil {
		return fmt.Errorf("raising nf_conntrack_max from %d to %d (only root in the initial namespace can): %w", cur, need, err)
	}
	l.oldMax = strings.TrimSpace(string(b))
	fmt.Fprintf(os.Stderr, "raised nf_conntrack_max from %s to %d; it is restored on exit\n", l.oldMax, need)
	return nil
}

// fill grows the table to size entries. The first cacheFlows end at the
// cache port and carry the firewall's mark, as the port chain would have
// set it; the even ones come from permitted peers.
func (l *auditLab) fill(size, cacheFlows int) error {
	l.cacheFlows = cacheFlows
	for i := l.filled; i < size; i++ {
		var f conntrack.Flow
		if i < cacheFlows {
			peer := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			if i%2 == 1 {
				peer = netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)})
			}
			f = conntrack.NewFlow(6, 0, peer, labAddr, uint16(20000+i%40000), 11211, 3600, firewall.ConnMark)
		} else {
			peer := netip.AddrFrom4([4]byte{172, 16 + byte(i>>16&0x0f), byte(i >> 8), byte(i)})
			f = conntrack.NewFlow(6, 0, peer, labAddr, uint16(20000+i%40000), uint16(8000+i%1000), 3600, 0)
		}
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: 3} // ESTABLISHED
		if err := l.conn.Create(f); err != nil {
			return fmt.Errorf("creating conntrack entry %d of %d: %w", i+1, size, err)
		}
		l.filled++
	}
	return nil
}

// close deletes the namespace (and with it the table) and restores the limit.
func (l *auditLab) close() {
	var errs []error
	if l.daemon != nil {
		l.daemon.stop()
	}
	if l.conn != nil {
		errs = append(errs, l.conn.Close())
	}
	if out, err := exec.Command("ip", "netns", "del", l.ns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
		errs = append(errs, fmt.Errorf("deleting namespace %s: %w: %s", l.ns, err, out))
	}
	if l.dir != "" {
		errs = append(errs, os.RemoveAll(l.dir))
	}
	if l.oldMax != "" {
		if err := os.WriteFile(ctMaxPath, []byte(l.oldMax), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring nf_conntrack_max to %s: %w", l.oldMax, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "cachectl-bench audit-scale cleanup:", err)
	}
}
