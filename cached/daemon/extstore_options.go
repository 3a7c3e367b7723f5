package daemon

import (
	"errors"
	"strconv"
	"strings"
)

// applyExtstore handles memcached's extstore options as a build with
// extstore takes them when no ext_path names a storage file: checked with
// memcached's messages, kept for stats settings, otherwise inert. A
// storage file is refused: this daemon keeps every item in memory.
func (x *extended) applyExtstore(name, val string, hasVal bool) (bool, error) {
	ext := &x.cfg.Extstore
	var number *uint32
	if short, ok := strings.CutPrefix(name, "ext_"); ok {
		number = ext.Number(short)
	}
	fractions := map[string]*float64{"ext_max_frag": &ext.MaxFrag, "slab_automove_freeratio": &ext.AutomoveFreeRatio}
	parse := func() (uint32, error) {
		return strtoul32(val, hasVal, "Missing "+name+" argument", "could not parse argument to "+name)
	}
	switch {
	case number != nil:
		n, err := parse()
		if err != nil {
			return true, err
		}
		*number = n
	case fractions[name] != nil:
		if !hasVal {
			return true, errors.New("Missing " + name + " argument")
		}
		f, ok := safeStrtod(val)
		if !ok {
			return true, errors.New("could not parse argument to " + name)
		}
		*fractions[name] = f
	case name == "ext_wbuf_size":
		// Megabytes into memcached's unsigned 32-bit byte count, which
		// wraps as it does there.
		mb, err := parse()
		if err != nil {
			return true, err
		}
		ext.WBufSize = mb << 20
	case name == "ext_page_size", name == "ext_threads", name == "ext_io_depth":
		// Only the storage engine reads these.
		_, err := parse()
		return true, err
	case name == "ext_drop_unread":
		ext.DropUnread = true
	case name == "ext_path":
		if !hasVal {
			return true, errors.New("missing argument to ext_path, ie: ext_path=/d/file:5G")
		}
		return true, errors.New("ext_path: not supported: cachectl keeps every item in memory and has no external storage (extstore); drop the option, and size -m for the whole cache")
	default:
		return false, nil
	}
	return true, nil
}

// safeStrtod is memcached's safe_strtod: leading space, a number, then
// nothing or a space.
func safeStrtod(s string) (float64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	if i := strings.IndexAny(s, " \t\n\v\f\r"); i >= 0 {
		s = s[:i]
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
