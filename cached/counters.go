package cached

import "time"

// Counters are the server's own counters, the connection figures of
// `stats` that the store does not keep, for an embedding program (the
// control socket, the Prometheus collector) that reads them without a
// client connection of its own. Reading them costs a few atomic loads and
// takes no lock.
type Counters struct {
	Started          time.Time
	CurrConnections  int64  // client connections open now (curr_connections without listeners)
	TotalConnections uint64 // total_connections
	Rejected         uint64 // rejected_connections: over -c
	Denied           uint64 // denied_connections: peers the allowlist closed
	UDPDenied        uint64 // udp_denied: datagrams from peers the allowlist refuses
	Panics           uint64 // connection_panics
	BytesRead        uint64 // bytes_read
	BytesWritten     uint64 // bytes_written
	MaxConnections   int    // -c
}

// Counters returns the server's counters now.
func (s *Server) Counters() Counters {
	bytesRead, bytesWritten := s.bytesIO()
	return Counters{
		Started:          s.started,
		CurrConnections:  s.currConns.Load(),
		TotalConnections: s.totalConns.Load(),
		Rejected:         s.rejected.Load(),
		Denied:           s.denied.Load(),
		UDPDenied:        s.udpDenied.Load(),
		Panics:           s.panics.Load(),
		BytesRead:        bytesRead,
		BytesWritten:     bytesWritten,
		MaxConnections:   s.cfg.MaxConns,
	}
}
