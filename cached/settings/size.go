package settings

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a byte count, written as memcached's -I takes it (1048576, 512k,
// 1m) and, beyond memcached, with a g suffix.
type Size int64

// Units a bare number is counted in: -m counts megabytes, -I and the
// policy's max_item_size count bytes.
const (
	Byte     Size = 1
	Kilobyte Size = 1 << 10
	Megabyte Size = 1 << 20
	Gigabyte Size = 1 << 30
)

// ParseSize reads a size: a number with an optional k, m or g suffix
// (powers of 1024, either case), or a bare number counted in unit.
func ParseSize(s string, unit Size) (Size, error) {
	t := strings.TrimSpace(s)
	mult := unit
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult, t = Kilobyte, t[:len(t)-1]
		case 'm', 'M':
			mult, t = Megabyte, t[:len(t)-1]
		case 'g', 'G':
			mult, t = Gigabyte, t[:len(t)-1]
		}
	}
	// Only overflow is refused here: whether a size is sensible depends on
	// what it sizes, and the store checks that with memcached's messages.
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || mult <= 0 || n > math.MaxInt64/int64(mult) {
		return 0, fmt.Errorf("%q is not a size: write a number with an optional k, m or g suffix, such as 1m", s)
	}
	return Size(n) * mult, nil
}

// String writes s in the shortest exact form ParseSize reads back in bytes.
func (s Size) String() string {
	switch {
	case s != 0 && s%Gigabyte == 0:
		return strconv.FormatInt(int64(s/Gigabyte), 10) + "g"
	case s != 0 && s%Megabyte == 0:
		return strconv.FormatInt(int64(s/Megabyte), 10) + "m"
	case s != 0 && s%Kilobyte == 0:
		return strconv.FormatInt(int64(s/Kilobyte), 10) + "k"
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText writes s as ParseSize reads it, for JSON and YAML.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText writes: a bare number is bytes.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b), Byte)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
