package policy

import (
	"fmt"
	"strings"
)

// Validate reports every semantic problem in p as a *ValidationError, or nil.
// Edit runs it before writing, so a program cannot store a policy that Load
// would refuse.
func (p *Policy) Validate() error {
	ps := p.check()
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

func (p *Policy) check() problems {
	var ps problems
	if p.Version != CurrentVersion {
		ps.add("version", "version %d is not supported: this cachectl reads version %d", p.Version, CurrentVersion)
	}
	p.Bind.check(&ps)
	p.Peers.check(&ps)
	if !p.Firewall.Verdict.Valid() {
		ps.add("firewall.verdict", "%q is not a verdict: use reject or drop", p.Firewall.Verdict)
	}
	p.Daemon.check(&ps)
	return ps
}

func (b *Bind) check(ps *problems) {
	if b.Port == 0 {
		ps.add("bind.port", "port 0 is not a port: use 1-65535 (memcached's is 11211)")
	}
	seen := map[string]int{}
	for i, name := range b.Interfaces {
		f := fmt.Sprintf("bind.interfaces[%d]", i)
		switch {
		case name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t:%"):
			ps.add(f, "%q is not an interface name: Linux names are 1-15 characters without '/', ':' or spaces (see 'ip link')", name)
		case seen[name] > 0:
			ps.add(f, "interface %q is listed twice: remove one", name)
		}
		seen[name]++
	}
	for i, a := range b.Addresses {
		f := fmt.Sprintf("bind.addresses[%d]", i)
		if !a.IsValid() {
			ps.add(f, "not an address: write a local address such as 10.0.0.5")
			continue
		}
		if a.IsUnspecified() {
			ps.add(f, "%s means every local address: list the addresses to listen on instead", a)
		}
		for _, b2 := range b.Addresses[:i] {
			if b2 == a {
				ps.add(f, "address %s is listed twice: remove one", a)
				break
			}
		}
	}
}

func (pe *Peers) check(ps *problems) {
	for i, e := range pe.Allowed {
		f := fmt.Sprintf("peers.allowed[%d].cidr", i)
		if !e.Prefix.IsValid() {
			ps.add(f, "missing: give an IP address or CIDR")
			continue
		}
		if e.Prefix.Masked() != e.Prefix {
			ps.add(f, "%s has host bits set: did you mean %s?", e.Prefix, e.Prefix.Masked())
		}
		if e.Prefix.Addr().Zone() != "" || e.Prefix.Addr().Is4In6() {
			ps.add(f, "%s: write peers without zones and IPv4 peers as IPv4", e.Prefix)
		}
		for j, prev := range pe.Allowed[:i] {
			if prev.Prefix.Masked() == e.Prefix.Masked() {
				ps.add(f, "%s is listed twice (also peers.allowed[%d]): remove one", e.Prefix, j)
				break
			}
		}
		if strings.ContainsAny(e.Comment, "\n\r") {
			ps.add(fmt.Sprintf("peers.allowed[%d].comment", i), "comments are one line: remove the line break")
		}
	}
}

func (d *Daemon) check(ps *problems) {
	if d.MemoryLimitMB < 1 {
		ps.add("daemon.memory_limit_mb", "%d: the cache needs at least 1 MB (memcached's default is %d)", d.MemoryLimitMB, DefaultMemoryLimitMB)
	}
	if d.MaxConnections < 1 {
		ps.add("daemon.max_connections", "%d: allow at least 1 connection (memcached's default is %d)", d.MaxConnections, DefaultMaxConnections)
	}
	if d.Threads < 1 {
		ps.add("daemon.threads", "%d: use at least 1 thread (memcached's default is %d)", d.Threads, DefaultThreads)
	}
	switch {
	case d.MaxItemSize < MinItemSize || d.MaxItemSize > MaxItemSizeLimit:
		ps.add("daemon.max_item_size", "%s is out of range: memcached takes 1k to 1g (default 1m)", d.MaxItemSize)
	case d.MemoryLimitMB >= 1 && int64(d.MaxItemSize) > int64(d.MemoryLimitMB)<<20/2:
		ps.add("daemon.max_item_size", "%s is more than half of memory_limit_mb (%d MB): memcached refuses that; lower it or raise the memory limit", d.MaxItemSize, d.MemoryLimitMB)
	}
}
