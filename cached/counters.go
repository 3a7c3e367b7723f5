package cached

import "time"

// Counters are the connection counters `stats` reports, for an embedding
// program (the control socket, metrics) that reads them without a client
// connection of its own.
type Counters struct {
	Started          time.Time
	CurrConnections  int64
	TotalConnections uint64
	Rejected         uint64 // over -c
	Denied           uint64 // closed by the peer filter
	UDPDenied        uint64
	Panics           uint64
}

// Counters returns a snapshot of the server's connection counters.
func (s *Server) Counters() Counters {
	return Counters{
		Started:          s.started,
		CurrConnections:  s.currConns.Load(),
		TotalConnections: s.totalConns.Load(),
		Rejected:         s.rejected.Load(),
		Denied:           s.denied.Load(),
		UDPDenied:        s.udpDenied.Load(),
		Panics:           s.panics.Load(),
	}
}
