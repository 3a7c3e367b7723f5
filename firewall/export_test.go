package firewall

import "context"

// The helpers the external tests (package firewall_test, which use
// firewalltest and so cannot live inside the package) share with the
// internal ones.
var (
	Prefixes  = prefixes
	Peers     = peers
	Peers6    = peers6
	CounterOf = counterOf
)

var ctx = context.Background()
