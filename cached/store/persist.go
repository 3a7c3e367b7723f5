package store

import (
	"errors"
	"fmt"
)

// PersistOnClose makes Close save what a warm restart needs, as
// memcached's SIGUSR1 stop does. It reports false, and does nothing,
// without a memory file.
func (s *Store) PersistOnClose() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.arena.file == nil {
		return false
	}
	s.arena.persist.save = true
	return true
}

// closeArena saves the metadata if asked, then unmaps the memory (lock
// held, background work stopped).
func (s *Store) closeArena() error {
	p := &s.arena.persist
	if p.closed {
		return p.closeErr
	}
	p.closed = true
	var err error
	if p.save && s.arena.file != nil && s.arena.mem != nil {
		err = s.save()
	}
	s.idx.release()
	p.closeErr = errors.Join(err, s.arena.close())
	return p.closeErr
}

// save writes the memory back, then the metadata that vouches for it.
func (s *Store) save() error {
	if err := syncMemory(s.arena.mem); err != nil {
		return err
	}
	if err := writeMetaFile(s.arena.file.path+metaSuffix, s.metadata()); err != nil {
		return fmt.Errorf("saving metadata for a warm restart: %w", err)
	}
	return nil
}

// metadata is the metadata file's contents (restart.go reads it back).
func (s *Store) metadata() []byte {
	var w metaWriter
	w.tag(metaTag)
	for _, l := range s.settingLines() {
		w.kv(l.key, l.val)
	}
	// Item times are seconds since process_started, so the clock base is
	// all a restart needs to keep ages and expiry times across the stop.
	w.kv("current_time", s.Now())
	w.kv("process_started", s.started)
	w.kv("stop_time", s.cfg.Now())
	w.kv("current_cas", s.casSeq)
	w.kv("oldest_cas", s.oldestCAS)
	w.kv("hashpower", s.idx.level())
	w.kv("oldest_live", s.oldestLive)
	w.kv("arena_pages", s.arena.nextPage)
	w.kv("pool", formatUints(s.arena.pool))
	for id := smallestCls; id < len(s.classes); id++ {
		c := &s.classes[id]
		if c.pages == 0 {
			continue
		}
		w.kv(fmt.Sprintf("pages_%d", id), formatUints(c.pageList))
		if c.endLeft > 0 {
			w.kv(fmt.Sprintf("carve_%d", id), formatUints([]uint32{c.endRef, c.endLeft}))
		}
		var tails [numSegments]uint32
		for seg := range tails {
			tails[seg] = c.lru[seg].tail
		}
		w.kv(fmt.Sprintf("lru_%d", id), formatUints(tails[:]))
	}
	return w.finish()
}
