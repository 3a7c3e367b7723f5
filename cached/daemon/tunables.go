package daemon

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The refusals in this file and in extended.go are memcached's own
// messages, capitals and full stops included, so that a refused command
// line reads the same under either daemon.

// ignoredTunables are memcached's -o options for machinery this daemon does
// not have or does differently (hash table expansion, privilege dropping).
// They are accepted so command lines carry over, and their values are
// checked as memcached 1.6.18 checks them, so a line it refuses is refused
// here too.
var ignoredTunables = map[string]func(val string, hasVal bool) error{
	"maxconns_fast": none, "no_maxconns_fast": none, "no_hashexpand": none,
	"inline_ascii_resp": none, "no_inline_ascii_resp": none,
	"drop_privileges": none, "no_drop_privileges": none, "resp_obj_mem_limit": none,
	"tail_repair_time": intAtLeast("Missing numeric argument for tail_repair_time", 10, "Cannot set tail_repair_time to less than 10 seconds"),
	"hash_algorithm": func(v string, has bool) error {
		switch {
		case !has:
			return errors.New("Missing hash_algorithm argument")
		case v != "jenkins" && v != "murmur3" && v != "xxh3":
			return errors.New("Unknown hash_algorithm option (jenkins, murmur3, xxh3)")
		}
		return nil
	},
}

func none(string, bool) error { return nil }

// missingOr is memcached's "Missing NAME argument" when there is no value,
// else the given refusal (none when empty).
func missingOr(name string, has bool, refusal string) error {
	if !has {
		return fmt.Errorf("Missing %s argument", name)
	}
	if refusal == "" {
		return nil
	}
	return errors.New(refusal)
}

func intAtLeast(missing string, least int, refusal string) func(string, bool) error {
	return func(v string, has bool) error {
		if !has {
			return errors.New(missing)
		}
		if atoi(v) < least {
			return errors.New(refusal)
		}
		return nil
	}
}

// atoi is C's atoi, which memcached uses for most numbers: leading spaces,
// an optional sign, then digits up to the first other byte; 0 if none.
func atoi(s string) int {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(s[:end], 10, 32)
	if err != nil {
		return 0
	}
	return int(n)
}

// atof is C's atof for the plain decimals memcached's tunables take.
func atof(s string) float64 {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	for end > 0 {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return f
		}
		end--
	}
	return 0
}

// safeStrtoul is memcached's safe_strtoul on a 64-bit build: strtoul's
// unsigned long (leading space, a sign, decimal digits), refused when out
// of range, when nothing but space follows is not true of the next byte,
// or when a minus made it negative as a long; then stored into a uint32,
// which keeps the low 32 bits.
func safeStrtoul(s string) (uint32, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 || (end < len(s) && !strings.ContainsRune(" \t\n\v\f\r", rune(s[end]))) {
		return 0, false
	}
	l, err := strconv.ParseUint(s[:end], 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		l = -l
		if int64(l) < 0 {
			return 0, false
		}
	}
	return uint32(l), true
}
