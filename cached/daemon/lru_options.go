package daemon

import (
	"errors"

	"github.com/cachectl/cachectl/cached/store"
)

// The -o options of memcached's long-run memory management: the segmented
// LRU and its maintainer, the LRU crawler and the slab page mover. Each
// reaches the store's Config with memcached 1.6.18's parsing (atoi and
// atof where it uses them, so "hot_lru_pct=20x" reads 20) and its refusals.
// The cross-option checks (hot + warm at most 80, temporary_ttl needing the
// maintainer) run after the whole line, in store.Config.Validate, as
// memcached runs them after getsubopt.

// applyLRU handles one LRU, crawler or mover option; known is false for
// any other name.
func (x *extended) applyLRU(name, val string, hasVal bool) (known bool, err error) {
	sc := &x.cfg.Store
	switch name {
	case "modern":
		// memcached 1.6's defaults are already the modern ones.
	case "lru_maintainer":
		sc.LRUMaintainer, sc.LRUSegmented = true, true
	case "no_lru_maintainer":
		sc.LRUMaintainer, sc.LRUSegmented = false, false
	case "lru_crawler":
		sc.LRUCrawler = true
	case "no_lru_crawler":
		sc.LRUCrawler = false
	case "slab_reassign":
		sc.SlabReassign = true
	case "no_slab_reassign":
		sc.SlabReassign = false
	case "no_slab_automove":
		sc.SlabAutomove = 0
	case "slab_automove":
		// Without a value memcached turns it on at level 1.
		sc.SlabAutomove = 1
		if hasVal {
			if sc.SlabAutomove = atoi(val); sc.SlabAutomove < 0 || sc.SlabAutomove > 2 {
				return true, store.ErrAutomoveLevel
			}
		}
	case "slab_automove_ratio":
		if sc.SlabAutomoveRatio = atof(val); !hasVal || sc.SlabAutomoveRatio <= 0 || sc.SlabAutomoveRatio > 1 {
			return true, missingOr(name, hasVal, "slab_automove_ratio must be > 0 and < 1")
		}
	case "slab_automove_window":
		if err := intAtLeast("Missing slab_automove_window argument", 3, "slab_automove_window must be > 2")(val, hasVal); err != nil {
			return true, err
		}
		sc.SlabAutomoveWindow = uint32(atoi(val))
	default:
		return x.applyLRUTuning(name, val, hasVal)
	}
	return true, nil
}

// applyLRUTuning handles the segment sizes, TEMP and the crawler's pace.
func (x *extended) applyLRUTuning(name, val string, hasVal bool) (known bool, err error) {
	sc := &x.cfg.Store
	switch name {
	case "hot_lru_pct", "warm_lru_pct":
		n := atoi(val)
		if !hasVal || n < 1 || n >= 80 {
			return true, missingOr(name, hasVal, name+" must be > 1 and < 80")
		}
		if name == "hot_lru_pct" {
			sc.HotLRUPct = n
		} else {
			sc.WarmLRUPct = n
		}
	case "hot_max_factor", "warm_max_factor":
		f := atof(val)
		if !hasVal || f <= 0 {
			return true, missingOr(name, hasVal, name+" must be > 0")
		}
		if name == "hot_max_factor" {
			sc.HotMaxFactor = f
		} else {
			sc.WarmMaxFactor = f
		}
	case "temporary_ttl":
		if !hasVal {
			return true, missingOr(name, false, "")
		}
		// memcached stores atoi's int in an unsigned setting.
		sc.TempLRU, sc.TemporaryTTL = true, uint32(int32(atoi(val)))
	case "lru_crawler_sleep":
		if !hasVal {
			return true, errors.New("Missing lru_crawler_sleep value")
		}
		n := atoi(val)
		if n < 0 || n > 1000000 {
			return true, errors.New("LRU crawler sleep must be between 0 and 1 second")
		}
		sc.CrawlerSleep = uint32(n)
	case "lru_crawler_tocrawl":
		n, err := strtoul32(val, hasVal, "Missing lru_crawler_tocrawl value", "lru_crawler_tocrawl takes a numeric 32bit value")
		if err != nil {
			return true, err
		}
		sc.CrawlerToCrawl = n
	case "read_buf_mem_limit":
		n, err := strtoul32(val, hasVal, "Missing read_buf_mem_limit argument", "could not parse argument to read_buf_mem_limit")
		if err != nil {
			return true, err
		}
		// Megabytes, as memcached reads it.
		x.cfg.ReadBufMemLimit = uint64(n) << 20
	default:
		return false, nil
	}
	return true, nil
}

// noModern is what -o no_modern turns off besides chunked items: the
// segmented LRU, its maintainer, the crawler and the slab mover.
func (x *extended) noModern() {
	sc := &x.cfg.Store
	sc.SlabReassign, sc.SlabAutomove = false, 0
	sc.LRUSegmented, sc.LRUMaintainer, sc.LRUCrawler = false, false, false
}

// strtoul32 is memcached's safe_strtoul on an option's value, with the
// message for a missing value and the one for a refused value.
func strtoul32(val string, hasVal bool, missing, refusal string) (uint32, error) {
	if !hasVal {
		return 0, errors.New(missing)
	}
	n, ok := safeStrtoul(val)
	if !ok {
		return 0, errors.New(refusal)
	}
	return n, nil
}
