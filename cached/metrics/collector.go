package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cachectl/cachectl/firewall"
)

// Allowlist is the allowlist the daemon enforces now.
type Allowlist struct {
	Peers    int  // allowed prefixes
	Loopback bool // loopback peers admitted
}

// FirewallState is cachectl's firewall as read from the kernel.
type FirewallState struct {
	Managed bool // the policy asks cachectl to keep the firewall
	Status  firewall.Status
}

// Sources are where the collector reads. Only Daemon is required; a nil
// source's metrics are left out (plain `serve` has no policy).
type Sources struct {
	Daemon    func() DaemonStats
	Allowlist func() (Allowlist, bool) // false: no allowlist installed
	Firewall  func(context.Context) (FirewallState, error)
	Audit     *Auditor
	Version   string
	Log       *slog.Logger
}

// firewallTimeout bounds the firewall read of one scrape, well inside
// Prometheus's default 10 s scrape timeout.
const firewallTimeout = 5 * time.Second

// firewallFresh is how long one firewall read serves later scrapes:
// scrapers that arrive together (an HA pair of Prometheus servers, an
// operator's curl beside them) share one iptables-save instead of queueing
// for it or being turned away.
const firewallFresh = time.Second

// Collector is a prometheus.Collector over Sources.
type Collector struct {
	src Sources

	fwMu   sync.Mutex // one firewall read at a time
	fwAt   time.Time
	fwLast FirewallState
	fwErr  error
}

// NewCollector collects from src.
func NewCollector(src Sources) *Collector {
	if src.Log == nil {
		src.Log = slog.New(slog.DiscardHandler)
	}
	return &Collector{src: src}
}

var (
	infoDesc = prometheus.NewDesc("cachectl_info", "Always 1; the version label says which cachectl runs.", []string{"version"}, nil)

	allowPeersDesc    = prometheus.NewDesc("cachectl_allowlist_peers", "Peer prefixes the allowlist admits, loopback aside.", nil, nil)
	allowLoopbackDesc = prometheus.NewDesc("cachectl_allowlist_loopback", "1 when the allowlist admits loopback peers.", nil, nil)

	fwReadableDesc  = prometheus.NewDesc("cachectl_firewall_readable", "1 when this scrape could read the firewall; 0 leaves the other firewall series out.", nil, nil)
	fwManagedDesc   = prometheus.NewDesc("cachectl_firewall_managed", "1 when the policy has cachectl keep the firewall (firewall.managed).", nil, nil)
	fwInstalledDesc = prometheus.NewDesc("cachectl_firewall_installed", "1 when cachectl's chains are installed and jumped to from INPUT.", []string{"family"}, nil)
	fwInSyncDesc    = prometheus.NewDesc("cachectl_firewall_in_sync", "1 when the installed rules match the policy's allowlist.", []string{"family"}, nil)
	fwPacketsDesc   = prometheus.NewDesc("cachectl_firewall_refused_packets_total", "Packets the default-deny rules refused (rejected or dropped); restarts at each apply.", []string{"family"}, nil)
	fwBytesDesc     = prometheus.NewDesc("cachectl_firewall_refused_bytes_total", "Bytes in the packets the default-deny rules refused; restarts at each apply.", []string{"family"}, nil)

	auditRunsDesc      = prometheus.NewDesc("cachectl_audit_runs_total", "Periodic conntrack audits run.", nil, nil)
	auditFailuresDesc  = prometheus.NewDesc("cachectl_audit_failures_total", "Periodic audits that could not read the connection table.", nil, nil)
	auditLastRunDesc   = prometheus.NewDesc("cachectl_audit_last_run_timestamp_seconds", "When the last periodic audit started.", nil, nil)
	auditDurationDesc  = prometheus.NewDesc("cachectl_audit_duration_seconds", "How long the last periodic audit took.", nil, nil)
	auditLastOKDesc    = prometheus.NewDesc("cachectl_audit_last_success_timestamp_seconds", "When the audit whose verdict is reported was taken.", nil, nil)
	auditViolationDesc = prometheus.NewDesc("cachectl_audit_violations", "Peers connected to the cache that the policy does not permit, at the last audit.", nil, nil)
	auditPermitDesc    = prometheus.NewDesc("cachectl_audit_permitted_peers", "Peers connected to the cache that the policy permits, at the last audit.", nil, nil)
	auditFlowsDesc     = prometheus.NewDesc("cachectl_audit_flows", "Conntrack flows to the cache, at the last audit.", nil, nil)
	auditErrorsDesc    = prometheus.NewDesc("cachectl_audit_errors", "Findings that keep the last audit from vouching for the table (e.g. conntrack not tracking).", nil, nil)
)

// Describe sends every series the collector can report.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range daemonMetrics {
		ch <- m.desc
	}
	for _, d := range []*prometheus.Desc{infoDesc, allowPeersDesc, allowLoopbackDesc,
		fwReadableDesc, fwManagedDesc, fwInstalledDesc, fwInSyncDesc, fwPacketsDesc, fwBytesDesc,
		auditRunsDesc, auditFailuresDesc, auditLastRunDesc, auditDurationDesc, auditLastOKDesc,
		auditViolationDesc, auditPermitDesc, auditFlowsDesc, auditErrorsDesc} {
		ch <- d
	}
}

// Collect reads every source now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1, c.src.Version)
	d := c.src.Daemon()
	for _, m := range daemonMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(d))
	}
	if c.src.Allowlist != nil {
		if al, ok := c.src.Allowlist(); ok {
			ch <- prometheus.MustNewConstMetric(allowPeersDesc, prometheus.GaugeValue, float64(al.Peers))
			ch <- prometheus.MustNewConstMetric(allowLoopbackDesc, prometheus.GaugeValue, boolFloat(al.Loopback))
		}
	}
	if c.src.Firewall != nil {
		c.collectFirewall(ch)
	}
	if c.src.Audit != nil {
		collectAudit(ch, c.src.Audit.state())
	}
}

// readFirewall reads the firewall, or returns a read less than
// firewallFresh old.
func (c *Collector) readFirewall() (FirewallState, error) {
	c.fwMu.Lock()
	defer c.fwMu.Unlock()
	if !c.fwAt.IsZero() && time.Since(c.fwAt) < firewallFresh {
		return c.fwLast, c.fwErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), firewallTimeout)
	defer cancel()
	c.fwLast, c.fwErr = c.src.Firewall(ctx)
	c.fwAt = time.Now()
	return c.fwLast, c.fwErr
}

func (c *Collector) collectFirewall(ch chan<- prometheus.Metric) {
	st, err := c.readFirewall()
	if err != nil {
		c.src.Log.Warn("metrics: cannot read the firewall", "err", err)
		ch <- prometheus.MustNewConstMetric(fwReadableDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(fwReadableDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(fwManagedDesc, prometheus.GaugeValue, boolFloat(st.Managed))
	for _, fs := range st.Status.Families {
		if !fs.Available {
			continue // no iptables for the family: nothing to report, not a zero
		}
		fam := fs.Family.String()
		refused := fs.Refused()
		ch <- prometheus.MustNewConstMetric(fwInstalledDesc, prometheus.GaugeValue, boolFloat(fs.Installed), fam)
		ch <- prometheus.MustNewConstMetric(fwInSyncDesc, prometheus.GaugeValue, boolFloat(fs.InSync), fam)
		ch <- prometheus.MustNewConstMetric(fwPacketsDesc, prometheus.CounterValue, float64(refused.Packets), fam)
		ch <- prometheus.MustNewConstMetric(fwBytesDesc, prometheus.CounterValue, float64(refused.Bytes), fam)
	}
}

func collectAudit(ch chan<- prometheus.Metric, s auditState) {
	ch <- prometheus.MustNewConstMetric(auditRunsDesc, prometheus.CounterValue, float64(s.runs))
	ch <- prometheus.MustNewConstMetric(auditFailuresDesc, prometheus.CounterValue, float64(s.failures))
	if s.runs == 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(auditLastRunDesc, prometheus.GaugeValue, unixSeconds(s.lastRun))
	ch <- prometheus.MustNewConstMetric(auditDurationDesc, prometheus.GaugeValue, s.took.Seconds())
	if !s.ok {
		return // no verdict yet: absent, not a reassuring zero
	}
	ch <- prometheus.MustNewConstMetric(auditLastOKDesc, prometheus.GaugeValue, unixSeconds(s.okAt))
	ch <- prometheus.MustNewConstMetric(auditViolationDesc, prometheus.GaugeValue, float64(s.summary.Violations))
	ch <- prometheus.MustNewConstMetric(auditPermitDesc, prometheus.GaugeValue, float64(s.summary.Permitted))
	ch <- prometheus.MustNewConstMetric(auditFlowsDesc, prometheus.GaugeValue, float64(s.summary.Flows))
	ch <- prometheus.MustNewConstMetric(auditErrorsDesc, prometheus.GaugeValue, float64(s.summary.Errors))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
