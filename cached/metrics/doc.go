// Package metrics exports a running cache daemon to Prometheus: the
// daemon's counters, the allowlist in force, the firewall's state and
// refusal counters per address family, and the verdict of a periodic
// conntrack audit.
//
// Everything is read when Prometheus scrapes (a custom Collector over the
// daemon's own counters), so serving requests costs nothing extra. The
// firewall is read at scrape time too, within a time limit; the audit is
// the exception, as a conntrack dump is too heavy for every scrape: it runs
// on its own interval and the collector reports its last result.
//
// The package does not decide what is audited or how the firewall is read:
// its caller supplies those as functions, so `cachectl serve` (no policy)
// and `cachectl bind` (a policy) share it.
package metrics
