// Command cachectl runs a memcached-compatible cache daemon and keeps who may
// reach it honest: it binds only to addresses this host really has, renders
// and applies the peer allowlist as iptables rules it owns, and audits
// conntrack to show who is actually connected.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
