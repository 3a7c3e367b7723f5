package store

import "errors"

// Run-time LRU settings: memcached's `lru tune`, `lru mode` and
// `lru temp_ttl`. The protocol layer words the replies; these return
// memcached's reasons as errors.

var (
	// ErrLRUPcts refuses hot and warm shares that leave COLD under 20%.
	ErrLRUPcts = errors.New("hot and warm pcts must not exceed 80")
	// ErrLRUFactors refuses an age factor of zero or less.
	ErrLRUFactors = errors.New("hot/warm age factors must be greater than 0")
	// ErrNoLRUMaintainer refuses switching the LRU mode while the
	// maintainer, which moves items between segments, is off.
	ErrNoLRUMaintainer = errors.New("the LRU maintainer is not running")
)

// TuneLRU sets hot_lru_pct, warm_lru_pct, hot_max_factor and warm_max_factor.
func (s *Store) TuneLRU(hotPct, warmPct uint32, hotFactor, warmFactor float64) error {
	switch {
	case uint64(hotPct)+uint64(warmPct) > 80:
		return ErrLRUPcts
	case hotFactor <= 0 || warmFactor <= 0:
		return ErrLRUFactors
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.HotLRUPct, s.cfg.WarmLRUPct = int(hotPct), int(warmPct)
	s.cfg.HotMaxFactor, s.cfg.WarmMaxFactor = hotFactor, warmFactor
	return nil
}

// SetLRUSegmented switches between the segmented and the flat LRU, which
// memcached allows only while its maintainer runs. Items keep their
// segment; going flat, the maintainer drains HOT and WARM into COLD.
func (s *Store) SetLRUSegmented(on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cfg.LRUMaintainer {
		return ErrNoLRUMaintainer
	}
	s.cfg.LRUSegmented = on
	return nil
}

// SetTemporaryTTL sets temporary_ttl and turns the TEMP LRU on, or off
// for a negative ttl, as `lru temp_ttl` does.
func (s *Store) SetTemporaryTTL(ttl int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cfg.LRUMaintainer {
		return ErrNoLRUMaintainer
	}
	s.cfg.TempLRU = ttl >= 0
	if ttl >= 0 {
		s.cfg.TemporaryTTL = uint32(ttl)
	}
	return nil
}
