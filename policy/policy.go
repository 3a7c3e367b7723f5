// Package policy holds cachectl's answer to "who may connect": one
// human-editable YAML file listing the peers allowed to reach the cache, the
// local side the daemon listens on, and how the firewall enforces the list.
//
// It is secure by default: a missing or fresh policy lets only loopback peers
// in and keeps UDP off. The package never guesses: a file that does not parse
// or validate is reported with its line and field and is never overwritten.
// It does not touch the network or the firewall; the daemon, the firewall
// renderer and the conntrack audit read the Policy it returns.
package policy

import (
	"net/netip"
	"time"

	"github.com/cachectl/cachectl/cached/settings"
)

// CurrentVersion is the only file format version this package reads and writes.
const CurrentVersion = 1

// DefaultPort is memcached's TCP port.
const DefaultPort = settings.Port

// Policy is the effective policy: every default is filled in.
type Policy struct {
	Version  int      `json:"version"`
	Bind     Bind     `json:"bind"`
	Peers    Peers    `json:"peers"`
	Firewall Firewall `json:"firewall"`
	Daemon   Daemon   `json:"daemon"`

	// idx speeds up Permits (see Reindex); it is ignored when missing or
	// when Peers.Allowed has changed size behind it.
	idx *index
}

// Bind is the local side: where the daemon listens. It says nothing about
// who may connect (that is Peers); memcached's -l is this, not an allowlist.
type Bind struct {
	Interfaces []string     `json:"interfaces"`
	Addresses  []netip.Addr `json:"addresses"`
	Port       uint16       `json:"port"`
	UDPPort    uint16       `json:"udp_port"` // 0 = UDP off
}

// Peers is the allowlist of remote addresses that may connect.
type Peers struct {
	AllowLoopback bool   `json:"allow_loopback"`
	Allowed       []Peer `json:"allowed"`
}

// Peer is one allowlist entry.
type Peer struct {
	Prefix  netip.Prefix `json:"cidr"`
	Comment string       `json:"comment,omitempty"`
	Added   time.Time    `json:"added,omitzero"`
}

// Firewall says whether cachectl enforces the allowlist with its own rules.
type Firewall struct {
	Managed bool    `json:"managed"`
	Verdict Verdict `json:"verdict"`
}

// Verdict is what the firewall does with a peer that is not allowed.
type Verdict string

const (
	// VerdictReject answers with a TCP reset, so refused clients fail at once.
	VerdictReject Verdict = "reject"
	// VerdictDrop silently discards, so refused clients hang until timeout.
	VerdictDrop Verdict = "drop"
)

// Valid reports whether v is a verdict the firewall knows.
func (v Verdict) Valid() bool { return v == VerdictReject || v == VerdictDrop }

// Daemon holds the defaults `cachectl bind` uses when its flags are not given.
type Daemon struct {
	MemoryLimitMB  int  `json:"memory_limit_mb"`
	MaxConnections int  `json:"max_connections"`
	Threads        int  `json:"threads"`
	MaxItemSize    Size `json:"max_item_size"`
}

// memcached's own defaults and limits (memcached -m, -c, -t, -I).
const (
	DefaultMemoryLimitMB  = settings.MemoryLimitMB
	DefaultMaxConnections = settings.MaxConns
	DefaultThreads        = settings.Threads
	DefaultMaxItemSize    = settings.MaxItemSize
	MinItemSize           = settings.MinItemSize
	MaxItemSizeLimit      = settings.MaxItemSizeLimit
)

// Default returns the policy a fresh install gets: loopback peers only,
// TCP 11211, UDP off, firewall not managed, memcached's daemon defaults.
func Default() *Policy {
	p := &Policy{
		Version:  CurrentVersion,
		Bind:     Bind{Port: DefaultPort},
		Peers:    Peers{AllowLoopback: true},
		Firewall: Firewall{Verdict: VerdictReject},
		Daemon: Daemon{
			MemoryLimitMB:  DefaultMemoryLimitMB,
			MaxConnections: DefaultMaxConnections,
			Threads:        DefaultThreads,
			MaxItemSize:    DefaultMaxItemSize,
		},
	}
	p.Reindex()
	return p
}

// LoopbackAllowed reports whether peers on 127.0.0.0/8 and ::1 may connect.
func (p *Policy) LoopbackAllowed() bool { return p.Peers.AllowLoopback }

// Size is a byte count written the way the daemon's -I takes it: 1024,
// 512k, 1m, 1g. The flags and the policy share this one type and parser.
type Size = settings.Size

// ParseSize reads a size in bytes with an optional k, m or g suffix.
func ParseSize(s string) (Size, error) { return settings.ParseSize(s, settings.Byte) }
