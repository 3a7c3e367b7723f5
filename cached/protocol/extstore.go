package protocol

import "slices"

// ExtstoreRequest is one `extstore SETTING VALUE [noreply]`: the runtime
// tuning of memcached's external storage. A build with extstore takes it
// with or without a storage file, so this daemon, which keeps every item
// in memory, takes it too and keeps the values for stats settings.
type ExtstoreRequest struct {
	Setting string  // memcached's name without "ext_": item_size, max_frag, ...
	Value   uint32  // the number, for every setting but max_frag
	Frac    float64 // max_frag's number
	Noreply bool
}

// extstoreSettings are the names `extstore` sets, in memcached's order.
var extstoreSettings = []string{"item_size", "item_age", "low_ttl", "recache_rate",
	"compact_under", "drop_under", "max_sleep", "max_frag", "drop_unread"}

// ParseExtstore reads an extstore command as memcached 1.6.18's
// process_extstore_command does. The request names the setting to store,
// even with the error: memcached's safe_strto* clear their result before
// they parse, so a refused value of a known setting leaves it 0. An empty
// Setting changes nothing (free_memchunks, deprecated, is only checked).
func ParseExtstore(toks [][]byte) (ExtstoreRequest, error) {
	r := ExtstoreRequest{Noreply: noreply(toks)}
	// memcached counts a terminal token: its ntokens < 4 is fewer than
	// two words after "extstore".
	if len(toks) < 3 {
		return r, ErrUnknownCommand
	}
	name := string(toks[1])
	if name == "free_memchunks" {
		if len(toks) < 4 {
			return r, ErrUnknownCommand
		}
		class, ok1 := ParseUint32(toks[2])
		_, ok2 := ParseUint32(toks[3])
		if !ok1 || !ok2 || class >= 64 { // MAX_NUMBER_OF_SLAB_CLASSES
			return r, ErrUnknownCommand
		}
		return r, nil
	}
	if !slices.Contains(extstoreSettings, name) {
		return r, ErrUnknownCommand
	}
	r.Setting = name
	var ok bool
	if name == "max_frag" {
		r.Frac, ok = ParseFloat(toks, 2)
	} else {
		r.Value, ok = ParseUint32(toks[2])
	}
	if !ok {
		r.Value, r.Frac = 0, 0
		if name == "drop_unread" {
			r.Setting = "" // memcached parses it into a local: it keeps its value
		}
		return r, ErrUnknownCommand
	}
	return r, nil
}
