package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/cachectl/cachectl/cached"
)

// The service manager's notification protocol (sd_notify(3)), in the few
// lines it takes: one datagram of NEWLINE-separated VAR=value assignments
// to the unix socket named by $NOTIFY_SOCKET, "@" naming an abstract one.
// Without the variable nothing is sent, so the daemon runs the same
// outside systemd.

// notifySocketEnv names the socket systemd gives a Type=notify service.
const notifySocketEnv = "NOTIFY_SOCKET"

// notify sends state to the service manager, if one asked for it.
func notify(state string) error {
	path := os.Getenv(notifySocketEnv)
	if path == "" {
		return nil
	}
	// Go's unix addresses already read a leading "@" as the abstract namespace.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notifying the service manager at %s: %w", path, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("notifying the service manager at %s: %w", path, err)
	}
	return nil
}

// serviceState tells the service manager when the daemon is ready and
// when it starts to stop.
type serviceState struct {
	log  *slog.Logger
	once sync.Once
}

// announceReady says READY=1, with where the daemon listens as its
// status line. It is called once every listener is bound and the caller's
// setup has run, so a unit ordered After=cachectl.service finds the port
// accepting (the kernel queues connections from bind on). When ctx ends
// (SIGTERM) STOPPING=1 follows at once, before replies in flight finish.
func announceReady(ctx context.Context, log *slog.Logger, srv *cached.Server) *serviceState {
	s := &serviceState{log: log}
	s.send("READY=1\nSTATUS=" + statusLine(srv))
	go func() {
		<-ctx.Done()
		s.stopping()
	}()
	return s
}

// stopping says STOPPING=1 once, whichever way the daemon stops.
func (s *serviceState) stopping() {
	s.once.Do(func() { s.send("STOPPING=1\nSTATUS=stopping") })
}

func (s *serviceState) send(state string) {
	if err := notify(state); err != nil {
		s.log.Error("service manager notification failed", "err", err)
	}
}

func statusLine(srv *cached.Server) string {
	var addrs []string
	for _, ap := range srv.Addrs() {
		addrs = append(addrs, ap.String())
	}
	for _, ap := range srv.UDPAddrs() {
		addrs = append(addrs, "udp "+ap.String())
	}
	if !srv.HasListener() {
		// -p 0 alone: up, as memcached would be, but unreachable; the
		// unit's status should not read as if it were serving.
		return "no listener (-p 0 without -U or -s): serving nothing"
	}
	if len(addrs) == 0 {
		return "serving"
	}
	return "serving on " + strings.Join(addrs, ", ")
}
