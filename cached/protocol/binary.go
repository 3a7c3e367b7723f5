package protocol

import "encoding/binary"

// The binary protocol, packet for packet as memcached 1.6.18's proto_bin.c
// reads it. A request is a 24-byte header, extras, key and value; the
// header, extras and key are read in place from the input, the value by
// the caller straight into item memory.

const (
	HeaderLen     = 24
	MagicRequest  = 0x80
	MagicResponse = 0x81
	FlagsLen      = 4          // extras of a get response
	SetExtras     = 8          // flags, expiration
	ArithExtras   = 20         // delta, initial, expiration
	TouchExtras   = 4          // expiration
	NoCreate      = 0xffffffff // an arithmetic expiration: do not create
)

// Opcodes memcached 1.6.18 serves.
const (
	OpGet        = 0x00
	OpSet        = 0x01
	OpAdd        = 0x02
	OpReplace    = 0x03
	OpDelete     = 0x04
	OpIncrement  = 0x05
	OpDecrement  = 0x06
	OpQuit       = 0x07
	OpFlush      = 0x08
	OpGetQ       = 0x09
	OpNoop       = 0x0a
	OpVersion    = 0x0b
	OpGetK       = 0x0c
	OpGetKQ      = 0x0d
	OpAppend     = 0x0e
	OpPrepend    = 0x0f
	OpStat       = 0x10
	OpSetQ       = 0x11
	OpAddQ       = 0x12
	OpReplaceQ   = 0x13
	OpDeleteQ    = 0x14
	OpIncrementQ = 0x15
	OpDecrementQ = 0x16
	OpQuitQ      = 0x17
	OpFlushQ     = 0x18
	OpAppendQ    = 0x19
	OpPrependQ   = 0x1a
	OpTouch      = 0x1c
	OpGAT        = 0x1d
	OpGATQ       = 0x1e
	OpSASLList   = 0x20
	OpSASLAuth   = 0x21
	OpSASLStep   = 0x22
	OpGATK       = 0x23
	OpGATKQ      = 0x24
)

// Response statuses.
const (
	StatusOK         = 0x00
	StatusNotFound   = 0x01
	StatusExists     = 0x02
	StatusTooLarge   = 0x03
	StatusInvalid    = 0x04
	StatusNotStored  = 0x05
	StatusBadDelta   = 0x06
	StatusAuthError  = 0x20
	StatusUnknownCmd = 0x81
	StatusNoMemory   = 0x82
)

// quietOf maps each quiet opcode to the command it is a quiet form of.
var quietOf = [256]uint8{
	OpSetQ: OpSet, OpAddQ: OpAdd, OpReplaceQ: OpReplace, OpDeleteQ: OpDelete,
	OpIncrementQ: OpIncrement, OpDecrementQ: OpDecrement, OpQuitQ: OpQuit,
	OpFlushQ: OpFlush, OpAppendQ: OpAppend, OpPrependQ: OpPrepend,
	OpGetQ: OpGet, OpGetKQ: OpGetK, OpGATQ: OpGAT, OpGATKQ: OpGATK,
}

// Header is a request header in host order.
type Header struct {
	Magic   uint8
	Opcode  uint8
	KeyLen  uint16
	ExtLen  uint8
	BodyLen uint32
	Opaque  uint32
	CAS     uint64
}

// BinaryRequest is a request being answered: responses echo its opcode
// and opaque, and quiet ones stay silent on success.
type BinaryRequest struct {
	Header
	Cmd   uint8 // Opcode with the quiet form folded onto the loud one
	Quiet bool
}

// ValueLen is the length of the value that follows the key.
func (r *BinaryRequest) ValueLen() int64 {
	return int64(r.BodyLen) - int64(r.KeyLen) - int64(r.ExtLen)
}

// ParseBinary reads the request at the start of buf. n is 0 when buf does
// not yet hold the header, extras and key; ErrBadMagic means buf does not
// start with a request at all.
func ParseBinary(buf []byte) (req BinaryRequest, extras, key []byte, n int, err error) {
	if len(buf) < HeaderLen {
		return req, nil, nil, 0, nil
	}
	h := Header{
		Magic:   buf[0],
		Opcode:  buf[1],
		KeyLen:  binary.BigEndian.Uint16(buf[2:]),
		ExtLen:  buf[4],
		BodyLen: binary.BigEndian.Uint32(buf[8:]),
		Opaque:  binary.BigEndian.Uint32(buf[12:]),
		CAS:     binary.BigEndian.Uint64(buf[16:]),
	}
	if h.Magic != MagicRequest {
		return req, nil, nil, 0, ErrBadMagic
	}
	n = HeaderLen + int(h.ExtLen) + int(h.KeyLen)
	if len(buf) < n {
		return req, nil, nil, 0, nil
	}
	req = BinaryRequest{Header: h, Cmd: h.Opcode}
	// GetQ is the one quiet form whose loud command is opcode 0.
	if loud := quietOf[h.Opcode]; loud != 0 || h.Opcode == OpGetQ {
		req.Cmd, req.Quiet = loud, true
	}
	return req, buf[HeaderLen : HeaderLen+int(h.ExtLen)], buf[HeaderLen+int(h.ExtLen) : n], n, nil
}
