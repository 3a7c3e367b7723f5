package protocol

import "encoding/binary"

// binaryShape says whether a command takes a header's lengths: extras,
// key and body as memcached 1.6.18 checks them before running it.
type binaryShape func(ext, kl int, bl int64) bool

var binaryShapes = [256]binaryShape{
	OpVersion:   bodyless,
	OpNoop:      bodyless,
	OpQuit:      bodyless,
	OpSASLList:  bodyless,
	OpFlush:     func(ext, kl int, bl int64) bool { return kl == 0 && bl == int64(ext) && (ext == 0 || ext == 4) },
	OpSet:       storeShape,
	OpAdd:       storeShape,
	OpReplace:   storeShape,
	OpGet:       func(ext, kl int, bl int64) bool { return ext == 0 && bl == int64(kl) && kl > 0 },
	OpGetK:      func(ext, kl int, bl int64) bool { return ext == 0 && bl == int64(kl) && kl > 0 },
	OpDelete:    func(ext, kl int, bl int64) bool { return kl > 0 && ext == 0 && bl == int64(kl) },
	OpIncrement: arithShape,
	OpDecrement: arithShape,
	OpAppend:    func(ext, kl int, _ int64) bool { return kl > 0 && ext == 0 },
	OpPrepend:   func(ext, kl int, _ int64) bool { return kl > 0 && ext == 0 },
	OpStat:      func(ext, _ int, _ int64) bool { return ext == 0 },
	OpSASLAuth:  func(ext, kl int, _ int64) bool { return ext == 0 && kl != 0 },
	OpSASLStep:  func(ext, kl int, _ int64) bool { return ext == 0 && kl != 0 },
	OpTouch:     touchShape,
	OpGAT:       touchShape,
	OpGATK:      touchShape,
}

func bodyless(ext, kl int, bl int64) bool { return ext == 0 && kl == 0 && bl == 0 }

func storeShape(ext, kl int, bl int64) bool {
	return ext == SetExtras && kl != 0 && bl >= int64(kl+SetExtras)
}

func arithShape(ext, kl int, bl int64) bool {
	return kl > 0 && ext == ArithExtras && bl == int64(kl+ext)
}

func touchShape(ext, kl int, _ int64) bool { return ext == TouchExtras && kl != 0 }

// CheckBinary validates a request's lengths as memcached does before it
// runs a command. A *BinaryError says how to answer a malformed one; an
// opcode memcached does not know passes, for the caller to refuse.
func CheckBinary(r *BinaryRequest) error {
	ext, kl, bl := int(r.ExtLen), int(r.KeyLen), int64(r.BodyLen)
	if int64(kl+ext) > bl {
		return ErrBinaryBody
	}
	if kl > KeyMaxLength {
		return ErrBinaryInvalid
	}
	if shape := binaryShapes[r.Cmd]; shape != nil && !shape(ext, kl, bl) {
		return ErrBinaryInvalid
	}
	return nil
}

// AppendBinaryHeader appends a response header for req.
func AppendBinaryHeader(out []byte, req *BinaryRequest, status uint16, extlen uint8, keylen uint16, bodylen uint32, cas uint64) []byte {
	var b [HeaderLen]byte
	b[0] = MagicResponse
	b[1] = req.Opcode
	binary.BigEndian.PutUint16(b[2:], keylen)
	b[4] = extlen
	binary.BigEndian.PutUint16(b[6:], status)
	binary.BigEndian.PutUint32(b[8:], bodylen)
	binary.BigEndian.PutUint32(b[12:], req.Opaque)
	binary.BigEndian.PutUint64(b[16:], cas)
	return append(out, b[:]...)
}
