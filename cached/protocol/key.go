package protocol

import (
	"encoding/base64"
	"strconv"
)

// Base64 keys (the b flag of the meta commands), decoded and encoded as
// memcached 1.6.18 does.

// DecodeKey decodes a base64 key the lenient way memcached's decoder does:
// bytes outside the alphabet are skipped, the count of the rest must be a
// multiple of four, and decoding stops after the first quad with padding
// ("YQ==YQ==" is "a"). It returns nil where memcached's decoder returns 0.
func DecodeKey(src []byte) []byte {
	n := 0
	for _, b := range src {
		if b64Value(b) >= 0 {
			n++
		}
	}
	if n == 0 || n%4 != 0 {
		return nil
	}
	out := make([]byte, 0, n/4*3)
	var quad [4]byte
	q, pad := 0, 0
	for _, b := range src {
		v := b64Value(b)
		if v < 0 {
			continue
		}
		if b == '=' {
			pad++
		}
		quad[q] = byte(v)
		if q++; q < 4 {
			continue
		}
		q = 0
		out = append(out, quad[0]<<2|quad[1]>>4, quad[1]<<4|quad[2]>>2, quad[2]<<6|quad[3])
		if pad > 0 {
			if pad > 2 {
				return nil
			}
			out = out[:len(out)-pad]
			break
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// b64Value is a base64 digit's value; '=' counts as 0, others are -1.
func b64Value(b byte) int {
	switch {
	case b >= 'A' && b <= 'Z':
		return int(b - 'A')
	case b >= 'a' && b <= 'z':
		return int(b-'a') + 26
	case b >= '0' && b <= '9':
		return int(b-'0') + 52
	case b == '+':
		return 62
	case b == '/':
		return 63
	case b == '=':
		return 0
	}
	return -1
}

// AppendKey writes the k flag of a meta reply: " k<key>", in base64 and
// with a " b" marker for a binary key.
func AppendKey(out, key []byte, binary bool) []byte {
	out = append(out, " k"...)
	if !binary {
		return append(out, key...)
	}
	out = base64.StdEncoding.AppendEncode(out, key)
	return append(out, " b"...)
}

// AppendBase64 writes a binary key as the me command shows it.
func AppendBase64(out, key []byte) []byte {
	return base64.StdEncoding.AppendEncode(out, key)
}

// AppendTTL writes the seconds left, -1 for never, with memcached's
// unsigned arithmetic.
func AppendTTL(out []byte, exp, now uint32) []byte {
	if exp == 0 {
		return append(out, "-1"...)
	}
	return strconv.AppendUint(out, uint64(exp-now), 10)
}
