package cached

import "fmt"

// Protocol is the -B setting: which protocols a connection may speak.
type Protocol uint8

const (
	ProtocolAuto   Protocol = iota // the first byte decides, per connection
	ProtocolASCII                  // text only
	ProtocolBinary                 // binary only
)

// String is the name `stats settings` reports as binding_protocol.
func (p Protocol) String() string {
	switch p {
	case ProtocolASCII:
		return "ascii"
	case ProtocolBinary:
		return "binary"
	}
	return "auto-negotiate"
}

// ParseProtocol reads a -B value.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "auto":
		return ProtocolAuto, nil
	case "ascii":
		return ProtocolASCII, nil
	case "binary":
		return ProtocolBinary, nil
	}
	return ProtocolAuto, fmt.Errorf("protocol %q: should be one of auto, binary, or ascii", s)
}
