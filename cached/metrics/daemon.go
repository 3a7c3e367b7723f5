package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/store"
)

// DaemonStats are the daemon's counters at one instant.
type DaemonStats struct {
	Server cached.Counters
	Store  store.Stats
}

// ServerStats reads a running server's counters: a few atomic loads and
// the store's stats snapshot (the same one `stats` takes).
func ServerStats(s *cached.Server) func() DaemonStats {
	return func() DaemonStats { return DaemonStats{Server: s.Counters(), Store: s.Store().Stats()} }
}

// daemonMetric is one series read from DaemonStats.
type daemonMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(DaemonStats) float64
}

func counter(name, help string, v func(DaemonStats) uint64) daemonMetric {
	return daemonMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue,
		func(d DaemonStats) float64 { return float64(v(d)) }}
}

func gauge(name, help string, v func(DaemonStats) float64) daemonMetric {
	return daemonMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, v}
}

// daemonMetrics map `stats` (memcached's keys) and `stats cachectl`
// (cachectl's own) onto Prometheus names: counters end in _total, sizes
// are in bytes. The stats key each one comes from is in its help text, so
// a dashboard built on `stats` can be ported.
var daemonMetrics = []daemonMetric{
	counter("cachectl_get_hits_total", "Keys found by get commands (stats get_hits).", func(d DaemonStats) uint64 { return d.Store.GetHits }),
	counter("cachectl_get_misses_total", "Keys not found by get commands (stats get_misses).", func(d DaemonStats) uint64 { return d.Store.GetMisses }),
	counter("cachectl_get_expired_total", "Gets that found an expired item (stats get_expired).", func(d DaemonStats) uint64 { return d.Store.GetExpired }),
	counter("cachectl_get_requests_total", "Keys asked for by get commands (stats cmd_get).", func(d DaemonStats) uint64 { return d.Store.CmdGet }),
	counter("cachectl_set_requests_total", "Storage commands (stats cmd_set).", func(d DaemonStats) uint64 { return d.Store.CmdSet }),
	counter("cachectl_evictions_total", "Live items evicted to make room (stats evictions).", func(d DaemonStats) uint64 { return d.Store.Evictions }),
	counter("cachectl_reclaimed_total", "Expired items whose memory was reused (stats reclaimed).", func(d DaemonStats) uint64 { return d.Store.Reclaimed }),
	counter("cachectl_items_stored_total", "Items stored since start (stats total_items).", func(d DaemonStats) uint64 { return d.Store.TotalItems }),
	gauge("cachectl_items", "Items held now (stats curr_items).", func(d DaemonStats) float64 { return float64(d.Store.CurrItems) }),
	gauge("cachectl_stored_bytes", "Bytes used by the items held (stats bytes).", func(d DaemonStats) float64 { return float64(d.Store.Bytes) }),
	gauge("cachectl_limit_bytes", "Memory the items may use, -m (stats limit_maxbytes).", func(d DaemonStats) float64 { return float64(d.Store.LimitMaxbytes) }),
	gauge("cachectl_connections", "Client connections open now.", func(d DaemonStats) float64 { return float64(d.Server.CurrConnections) }),
	gauge("cachectl_max_connections", "Connection limit, -c (stats max_connections).", func(d DaemonStats) float64 { return float64(d.Server.MaxConnections) }),
	counter("cachectl_connections_total", "Connections accepted since start, counting listeners as memcached does (stats total_connections).", func(d DaemonStats) uint64 { return d.Server.TotalConnections }),
	counter("cachectl_rejected_connections_total", "Connections closed because the limit -c was reached (stats rejected_connections).", func(d DaemonStats) uint64 { return d.Server.Rejected }),
	counter("cachectl_denied_connections_total", "Connections closed because the allowlist does not admit the peer (stats cachectl denied_connections).", func(d DaemonStats) uint64 { return d.Server.Denied }),
	counter("cachectl_udp_denied_total", "UDP datagrams left unanswered because the allowlist does not admit the peer (stats cachectl udp_denied).", func(d DaemonStats) uint64 { return d.Server.UDPDenied }),
	counter("cachectl_connection_panics_total", "Connections closed by a recovered panic (stats cachectl connection_panics).", func(d DaemonStats) uint64 { return d.Server.Panics }),
	counter("cachectl_read_bytes_total", "Bytes read from clients (stats bytes_read).", func(d DaemonStats) uint64 { return d.Server.BytesRead }),
	counter("cachectl_written_bytes_total", "Bytes written to clients (stats bytes_written).", func(d DaemonStats) uint64 { return d.Server.BytesWritten }),
}
