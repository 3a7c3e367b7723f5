package protocol

// Request is a parsed classic text command. Its slices point into the
// input buffer and are valid until the connection reads again.
type Request struct {
	Key     []byte
	Flags   uint32 // client flags of a storage command
	Exptime int32  // as sent; PositiveExp maps a negative one to the past
	Length  int    // the data block's length, without its CRLF
	CAS     uint64 // the compare value of cas
	Delta   uint64 // incr and decr
	Level   uint32 // verbosity level, cache_memlimit megabytes
	Noreply bool
}

// noreply is memcached's set_noreply_maybe: the last token decides.
func noreply(toks [][]byte) bool {
	return len(toks) > 0 && string(toks[len(toks)-1]) == "noreply"
}

// ParseStorage reads set/add/replace/append/prepend <key> <flags>
// <exptime> <bytes> [noreply], and cas with <cas unique> before noreply.
// Noreply is set even when the line is refused: it silences the error.
func ParseStorage(toks [][]byte, withCAS bool) (Request, error) {
	r := Request{Key: toks[1], Noreply: noreply(toks)}
	if len(r.Key) > KeyMaxLength {
		return r, ErrBadFormat
	}
	flags, ok1 := ParseUint32(toks[2])
	exp, ok2 := ParseInt32(toks[3])
	vlen, ok3 := ParseInt32(toks[4])
	if !ok1 || !ok2 || !ok3 {
		return r, ErrBadFormat
	}
	r.Flags, r.Exptime = flags, exp
	if withCAS {
		v, ok := ParseUint64(toks[5])
		if !ok {
			return r, ErrBadFormat
		}
		r.CAS = v
	}
	if vlen < 0 || vlen > 1<<31-1-2 {
		return r, ErrBadFormat
	}
	r.Length = int(vlen)
	return r, nil
}

// ParseDelete reads delete <key> [0] [noreply]: a hold time other than 0
// is refused, as memcached has not supported one for years.
func ParseDelete(toks [][]byte) (Request, error) {
	r := Request{Key: toks[1]}
	if len(toks) > 2 {
		r.Noreply = noreply(toks)
		hold0 := string(toks[2]) == "0"
		valid := (len(toks) == 3 && (hold0 || r.Noreply)) || (len(toks) == 4 && hold0 && r.Noreply)
		if !valid {
			return r, ErrDeleteUsage
		}
	}
	if len(r.Key) > KeyMaxLength {
		return r, ErrBadFormat
	}
	return r, nil
}

// ParseArith reads incr/decr <key> <delta> [noreply].
func ParseArith(toks [][]byte) (Request, error) {
	r := Request{Key: toks[1], Noreply: noreply(toks)}
	if len(r.Key) > KeyMaxLength {
		return r, ErrBadFormat
	}
	delta, ok := ParseUint64(toks[2])
	if !ok {
		return r, ErrBadDelta
	}
	r.Delta = delta
	return r, nil
}

// ParseTouch reads touch <key> <exptime> [noreply].
func ParseTouch(toks [][]byte) (Request, error) {
	r := Request{Key: toks[1], Noreply: noreply(toks)}
	if len(r.Key) > KeyMaxLength {
		return r, ErrBadFormat
	}
	exp, ok := ParseInt32(toks[2])
	if !ok {
		return r, ErrBadExptime
	}
	r.Exptime = exp
	return r, nil
}

// ParseExptime reads the expiry of gat and gats.
func ParseExptime(tok []byte) (int32, error) {
	exp, ok := ParseInt32(tok)
	if !ok {
		return 0, ErrBadExptime
	}
	return exp, nil
}

// CheckKey refuses a key longer than memcached's limit.
func CheckKey(key []byte) error {
	if len(key) > KeyMaxLength {
		return ErrBadFormat
	}
	return nil
}

// ParseFlushAll reads flush_all [delay] [noreply]; the delay is in Exptime.
func ParseFlushAll(toks [][]byte) (Request, error) {
	r := Request{Noreply: noreply(toks)}
	want := 1
	if r.Noreply {
		want = 2
	}
	if len(toks) != want {
		v, ok := ParseInt32(toks[1])
		if !ok {
			return r, ErrBadExptime
		}
		r.Exptime = v
	}
	return r, nil
}

// ParseVerbosity reads verbosity <level> [noreply]; the level is not
// capped here.
func ParseVerbosity(toks [][]byte) (Request, error) {
	r := Request{Noreply: noreply(toks)}
	level, ok := ParseUint32(toks[1])
	if !ok {
		return r, ErrBadFormat
	}
	r.Level = level
	return r, nil
}

// ParseMemlimit reads cache_memlimit <megabytes> [noreply].
func ParseMemlimit(toks [][]byte) (Request, error) {
	r := Request{Noreply: noreply(toks)}
	mb, ok := ParseUint32(toks[1])
	switch {
	case !ok:
		return r, ErrUnknownCommand
	case mb < 8:
		return r, ErrMemlimitSmall
	case mb > 1000000000:
		return r, ErrMemlimitBytes
	}
	r.Level = mb
	return r, nil
}

// ParseShutdown reads shutdown [graceful]; both stop the daemon the same
// way.
func ParseShutdown(toks [][]byte) error {
	if len(toks) == 1 || len(toks) == 2 && string(toks[1]) == "graceful" {
		return nil
	}
	return ErrBadShutdown
}

// ParseCachedump reads stats cachedump <class> <limit>.
func ParseCachedump(toks [][]byte) (class, limit uint32, err error) {
	if len(toks) < 4 {
		return 0, 0, ErrBadCommandLine
	}
	id, ok1 := ParseUint32(toks[2])
	limit, ok2 := ParseUint32(toks[3])
	if !ok1 || !ok2 {
		return 0, 0, ErrBadFormat
	}
	if id >= 64 {
		return 0, 0, ErrBadSlabID
	}
	return id, limit, nil
}
