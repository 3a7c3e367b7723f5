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
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// CurrentVersion is the only file format version this package reads and writes.
const CurrentVersion = 1

// DefaultPort is memcached's TCP port.
const DefaultPort = 11211

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
	DefaultMemoryLimitMB  = 64
	DefaultMaxConnections = 1024
	DefaultThreads        = 4
	DefaultMaxItemSize    = Size(1 << 20)
	MinItemSize           = Size(1 << 10)
	MaxItemSizeLimit      = Size(1 << 30)
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

// Size is a byte count written the way memcached's -I takes it: 1024, 512k, 1m.
type Size int64

// ParseSize reads a size with an optional k or m suffix (powers of 1024).
func ParseSize(s string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, strings.TrimSuffix(t, "m")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size: write bytes, or a number with k or m, such as 1m", s)
	}
	return Size(n * mult), nil
}

// String writes s in the shortest exact form ParseSize reads back.
func (s Size) String() string {
	switch {
	case s != 0 && s%(1<<20) == 0:
		return strconv.FormatInt(int64(s)>>20, 10) + "m"
	case s != 0 && s%(1<<10) == 0:
		return strconv.FormatInt(int64(s)>>10, 10) + "k"
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText writes s as ParseSize reads it, for JSON and YAML.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
