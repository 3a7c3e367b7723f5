package audit

import "fmt"

// TCPState is conntrack's TCP state, numbered as the kernel's
// enum tcp_conntrack (ti-mo/conntrack exports the number only). Conntrack
// names states from the originator's side: SYN_SENT means the peer's SYN
// passed, SYN_RECV means the cache host answered with SYN-ACK.
type TCPState uint8

// The kernel's enum tcp_conntrack, in its order.
const (
	TCPNone        TCPState = 0
	TCPSynSent     TCPState = 1
	TCPSynRecv     TCPState = 2
	TCPEstablished TCPState = 3
	TCPFinWait     TCPState = 4
	TCPCloseWait   TCPState = 5
	TCPLastAck     TCPState = 6
	TCPTimeWait    TCPState = 7
	TCPClose       TCPState = 8
	TCPSynSent2    TCPState = 9
)

var tcpStateNames = [...]string{
	TCPNone:        "NONE",
	TCPSynSent:     "SYN_SENT",
	TCPSynRecv:     "SYN_RECV",
	TCPEstablished: "ESTABLISHED",
	TCPFinWait:     "FIN_WAIT",
	TCPCloseWait:   "CLOSE_WAIT",
	TCPLastAck:     "LAST_ACK",
	TCPTimeWait:    "TIME_WAIT",
	TCPClose:       "CLOSE",
	TCPSynSent2:    "SYN_SENT2",
}

// String returns the name conntrack -L prints for the state.
func (s TCPState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return fmt.Sprintf("STATE_%d", uint8(s))
}

// Handshaking reports whether the three-way handshake has not completed:
// the peer got through the firewall but never exchanged data.
func (s TCPState) Handshaking() bool {
	return s == TCPNone || s == TCPSynSent || s == TCPSynRecv || s == TCPSynSent2
}
