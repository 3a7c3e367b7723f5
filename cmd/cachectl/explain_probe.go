package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/cachectl/cachectl/firewall/audit"
	"github.com/cachectl/cachectl/netinfo"
)

// hostProbe is what explain reads from the host besides the firewall and
// conntrack (which come through the app's applier and flows): its
// addresses, its route to the peer, and the running daemon. Tests give it
// literal answers.
type hostProbe interface {
	Snapshot() (netinfo.Snapshot, error)
	PathTo(peer netip.Addr) (netinfo.Path, error)
	// AskDaemon queries the daemon at addr about peer; an error that
	// wraps errNotListening means nothing accepts connections there.
	AskDaemon(ctx context.Context, addr netip.AddrPort, peer netip.Addr) (daemonAnswer, error)
	Close() error
}

// daemonAnswer is what the running daemon says about itself and the peer.
type daemonAnswer struct {
	PID     int
	Listen  []netip.AddrPort
	PerPeer bool // false: it does not know `stats peer` (stock memcached)
	Peer    peerStats
}

type peerStats struct {
	Allowlist, Admitted bool
	Entry               string
	Denied              uint64
	LastDenied          time.Time
}

var errNotListening = errors.New("nothing accepts connections there")

// kernelProbe is the real hostProbe for a namespace ("" = this one).
type kernelProbe struct {
	netns string
	src   netinfo.Source
	ns    netns.NsHandle // open while the probe is, for another namespace
}

func newKernelProbe(name string) (hostProbe, error) {
	if name == "" {
		return &kernelProbe{src: netinfo.Current()}, nil
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("network namespace %q: %w", name, err)
	}
	return &kernelProbe{netns: name, src: netinfo.In(h), ns: h}, nil
}

func (k *kernelProbe) Snapshot() (netinfo.Snapshot, error)       { return k.src.Gather() }
func (k *kernelProbe) PathTo(p netip.Addr) (netinfo.Path, error) { return k.src.PathTo(p) }
func (k *kernelProbe) Close() error {
	if k.netns != "" {
		return k.ns.Close()
	}
	return nil
}

func (k *kernelProbe) AskDaemon(ctx context.Context, addr netip.AddrPort, peer netip.Addr) (daemonAnswer, error) {
	conn, err := k.dial(ctx, addr)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return daemonAnswer{}, fmt.Errorf("connecting to %s: %w", addr, errNotListening)
	}
	if err != nil {
		return daemonAnswer{}, fmt.Errorf("connecting to the daemon at %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	ans, err := askDaemon(conn, peer)
	if err != nil {
		return ans, fmt.Errorf("daemon at %s: %w", addr, err)
	}
	return ans, nil
}

// dial connects from inside the probe's namespace. The address is a
// literal, so no resolver runs: the socket is made on the thread Do has
// switched into the namespace.
func (k *kernelProbe) dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	var conn net.Conn
	err := k.src.Do(func() (err error) {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr.String())
		return err
	})
	return conn, err
}

// askDaemon runs `stats`, `stats conns` and `stats peer ADDR` on one
// connection.
func askDaemon(rw io.ReadWriter, peer netip.Addr) (daemonAnswer, error) {
	var ans daemonAnswer
	r := bufio.NewReader(rw)
	general, err := statsRequest(rw, r, "stats")
	if err != nil {
		return ans, err
	}
	ans.PID, _ = strconv.Atoi(general["pid"])
	if _, err := io.WriteString(rw, "stats conns\r\n"); err != nil {
		return ans, fmt.Errorf("asking for stats conns: %w", err)
	}
	conns, err := audit.ParseConns(r)
	if err != nil {
		return ans, err
	}
	for _, c := range conns {
		if c.State == "conn_listening" && strings.HasPrefix(c.Proto, "tcp") {
			ans.Listen = append(ans.Listen, c.Peer)
		}
	}
	st, err := statsRequest(rw, r, "stats peer "+peer.WithZone("").String())
	if errors.Is(err, errUnknownStats) {
		return ans, nil // a daemon without per-peer state: the rest still holds
	}
	if err != nil {
		return ans, err
	}
	ans.PerPeer = true
	ans.Peer = peerStats{Allowlist: st["allowlist"] == "yes", Admitted: st["admitted"] == "yes", Entry: st["entry"]}
	ans.Peer.Denied, _ = strconv.ParseUint(st["denied"], 10, 64)
	if t, _ := strconv.ParseInt(st["last_denied"], 10, 64); t > 0 {
		ans.Peer.LastDenied = time.Unix(t, 0).UTC()
	}
	return ans, nil
}

var errUnknownStats = errors.New("the daemon does not know this stats command")

// statsRequest sends one stats command and reads "STAT name value" lines
// up to END.
func statsRequest(w io.Writer, r *bufio.Reader, cmd string) (map[string]string, error) {
	if _, err := io.WriteString(w, cmd+"\r\n"); err != nil {
		return nil, fmt.Errorf("sending %q: %w", cmd, err)
	}
	out := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("reading the reply to %q: %w (does the daemon admit this host's own address?)", cmd, err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "END":
			return out, nil
		case line == "ERROR" || strings.HasPrefix(line, "CLIENT_ERROR"):
			return nil, fmt.Errorf("%q: %s: %w", cmd, line, errUnknownStats)
		}
		name, val, _ := strings.Cut(strings.TrimPrefix(line, "STAT "), " ")
		out[name] = val
	}
}
