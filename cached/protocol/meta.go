package protocol

// The meta commands (mg, ms, md, ma, mn, me) as memcached 1.6.18's
// proto_text.c reads them, quirks included: flags a later release added
// (E everywhere, x on md) are rejected, while every command accepts, and
// ignores, the flags only another one uses.

const (
	MetaMaxTokens = 20 // MFLAG_MAX_OPT_LENGTH, counted like ntokens
	MetaMaxOpaque = 32 // MFLAG_MAX_OPAQUE_LENGTH, the O included
)

// MetaFlags is what _meta_flag_preparse learns from a command's flags.
// Times are as sent; PositiveExp and the store's clock make them relative.
type MetaFlags struct {
	NoUpdate, Locked, Vivify, Value, SetStale bool
	NoReply, HasCAS, NewTTL, KeyBinary        bool
	Mode                                      byte
	Exptime, AutovivExp, RecacheExp           int32
	ClientFlags                               uint32
	ReqCAS, Delta, Initial                    uint64
}

// CheckMeta applies the checks mg, md and ma make before their flags;
// tooLong is the error each of them words differently.
func CheckMeta(toks [][]byte, tooLong *Error) error {
	switch {
	case len(toks) < 2:
		return ErrUnknownCommand
	case len(toks[1]) > KeyMaxLength:
		return ErrBadFormat
	case len(toks)+1 > MetaMaxTokens:
		return tooLong
	}
	return nil
}

// CheckMetaSet applies ms's checks and reads its data length: ms <key>
// <datalen> <flags>*.
func CheckMetaSet(toks [][]byte) (vlen int, err error) {
	switch {
	case len(toks) < 2:
		return 0, ErrUnknownCommand
	case len(toks[1]) > KeyMaxLength, len(toks) == 2:
		return 0, ErrBadFormat
	case len(toks)+1 > MetaMaxTokens:
		return 0, ErrMetaFlagsLong
	}
	n, ok := ParseInt32(toks[2])
	if !ok || n < 0 || n > 1<<31-1-2 {
		return 0, ErrBadFormat
	}
	return int(n), nil
}

// ParseMetaFlags validates the flags in toks[start:] into f and decodes a
// base64 key. On failure the error is the one memcached would choose: the
// last error seen, or the first unknown or repeated flag.
func ParseMetaFlags(toks [][]byte, start int, f *MetaFlags) (key []byte, err error) {
	var seen [127]bool
	key = toks[1]
	failed := false
	msg := ErrBadFormat
	for _, tok := range toks[start:] {
		o := tok[0]
		if o >= 127 || seen[o] {
			return nil, ErrMetaDuplicateFlag
		}
		seen[o] = true
		if o == 'b' {
			if key = DecodeKey(toks[1]); key == nil {
				failed, msg = true, ErrMetaBadKey
			}
			f.KeyBinary = true
			continue
		}
		known, ferr := f.set(o, tok)
		if !known {
			return nil, ErrMetaUnknownFlag
		}
		if ferr != nil {
			failed = true
			if ferr != errKeepLast {
				msg = ferr
			}
		}
	}
	if failed {
		return key, msg
	}
	return key, nil
}

// errKeepLast marks a flag that fails without a message of its own: the
// reply is the last message another flag chose.
var errKeepLast = &Error{ReplyBadFormat}

// set records one flag; known is false for a flag no meta command takes.
// A flag whose value does not parse yields its error; F's is the generic
// one, as memcached keeps the last message for it.
func (f *MetaFlags) set(o byte, tok []byte) (known bool, err *Error) {
	switch o {
	case 'N':
		f.Locked, f.Vivify = true, true
		f.AutovivExp, err = metaTime(tok)
	case 'T':
		f.Locked = true
		if exp, terr := metaTime(tok); terr == nil {
			f.Exptime, f.NewTTL = exp, true
		} else {
			err = terr
		}
	case 'R':
		f.Locked = true
		f.RecacheExp, err = metaTime(tok)
	case 'l', 'h':
		f.Locked = true // the bump waits until last access is reported
	case 'O', 'P', 'L', 'k', 's', 't', 'c', 'f':
	case 'v':
		f.Value = true
	case 'u':
		f.NoUpdate = true
	case 'q':
		f.NoReply = true
	case 'I':
		f.SetStale = true
	case 'F':
		v, ok := ParseUint32(tok[1:])
		if !ok {
			err = errKeepLast
		}
		f.ClientFlags = v
	case 'C':
		err = f.setNumber(tok, &f.ReqCAS, ErrMetaBadToken)
		f.HasCAS = err == nil
	case 'M':
		if len(tok) != 2 {
			return true, ErrMetaModeLength
		}
		f.Mode = tok[1]
	case 'J':
		err = f.setNumber(tok, &f.Initial, ErrMetaBadInitial)
	case 'D':
		err = f.setNumber(tok, &f.Delta, ErrMetaBadDelta)
	default:
		return false, nil
	}
	return true, err
}

func (f *MetaFlags) setNumber(tok []byte, dst *uint64, bad *Error) *Error {
	v, ok := ParseUint64(tok[1:])
	if !ok {
		return bad
	}
	*dst = v
	return nil
}

// metaTime reads a T, N or R time; 0 when it does not parse.
func metaTime(tok []byte) (int32, *Error) {
	v, ok := ParseInt32(tok[1:])
	if !ok {
		return 0, ErrMetaBadToken
	}
	return v, nil
}
