package daemon

import (
	"net/netip"
	"time"

	"github.com/cachectl/cachectl/firewall"
)

// The control socket speaks one JSON request and one JSON reply per
// connection, each on a line of its own.

// ControlOp is what a control request asks for.
type ControlOp string

const (
	// OpReload re-reads the policy file, installs its allowlist and reports
	// on the peers named in Check.
	OpReload ControlOp = "reload"
	// OpStatus reports the daemon's state and changes nothing.
	OpStatus ControlOp = "status"
	// OpFlows hands the daemon's conntrack flow table (FlowsReport) to an
	// audit, once every event already queued is read.
	OpFlows ControlOp = "flows"
)

// ControlRequest is what cachectl sends to a running daemon.
type ControlRequest struct {
	Op ControlOp `json:"op"`
	// Check names peers whose admission and live connections the reply
	// reports: for a reload, once the new allowlist is in force.
	Check []netip.Prefix `json:"check,omitempty"`
}

// ControlReply is the daemon's answer. Error is set when the request
// failed; Daemon always says who answered.
type ControlReply struct {
	Error  string        `json:"error,omitempty"`
	Daemon DaemonInfo    `json:"daemon"`
	Reload *ReloadReport `json:"reload,omitempty"`
	Status *StatusReport `json:"status,omitempty"`
	Flows  *FlowsReport  `json:"flows,omitempty"`
}

// DaemonInfo identifies the daemon that answered.
type DaemonInfo struct {
	PID    int              `json:"pid"`
	Policy string           `json:"policy"`
	Addrs  []netip.AddrPort `json:"addrs"`
	UDP    []netip.AddrPort `json:"udp_addrs,omitempty"`
}

// ReloadReport is the allowlist a reload put in force.
type ReloadReport struct {
	Generation uint64       `json:"generation"`
	Allowed    string       `json:"allowed"`
	Peers      []PeerReport `json:"peers,omitempty"`
}

// PeerReport is one checked peer under the allowlist in force. Live counts
// the TCP connections from it to the daemon that the kernel shows as
// established (after a reload: once it is done); Closed, those that were
// established when the request arrived and are gone.
type PeerReport struct {
	Prefix   netip.Prefix `json:"cidr"`
	Admitted bool         `json:"admitted"`
	Entry    string       `json:"entry,omitempty"` // the policy entry that admits it
	Closed   int          `json:"closed"`
	Live     int          `json:"live"`
}

// StatusReport is the daemon's state for `cachectl status`.
type StatusReport struct {
	Started     time.Time `json:"started"`
	Uptime      Seconds   `json:"uptime_seconds"`
	Generation  uint64    `json:"allowlist_generation"`
	Allowed     string    `json:"allowed"`
	Items       uint64    `json:"items"`
	Bytes       uint64    `json:"bytes"`
	LimitBytes  uint64    `json:"limit_bytes"`
	Connections int64     `json:"connections"`
	Total       uint64    `json:"total_connections"`
	Denied      uint64    `json:"denied_connections"`
	UDPDenied   uint64    `json:"udp_denied"`
	// Peers reports on the request's Check.
	Peers []PeerReport `json:"peers,omitempty"`
	// Firewall is the keeper's state; nil when the daemon does not keep
	// the firewall (firewall.managed is false).
	Firewall *firewall.KeeperState `json:"firewall,omitempty"`
}

// Seconds is a duration that JSON shows as whole seconds.
type Seconds int64

// Duration converts back.
func (s Seconds) Duration() time.Duration { return time.Duration(s) * time.Second }
