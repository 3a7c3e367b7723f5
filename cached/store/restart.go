package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Warm restart, memcached's -e. The items live in the memory file; on a
// graceful stop (PersistOnClose, then Close) the store writes PATH.meta
// with the settings the memory layout depends on, its clock base, CAS
// counter and flush state, and the arena's page table: which pages each
// class owns, its carving position and the tail of each LRU segment. A
// store opened on the same file with the same settings reads that back,
// removes it, and rebuilds the hash index and LRUs from the arena
// (fixup.go); any mismatch or damage starts cold, with memcached's
// "[restart]" messages, and clears the file.

// itemLayout names the item header's format (item.go). A file written with
// another layout starts cold: change it whenever the header changes. The
// header's field offsets are saved beside it, so a change that forgets to
// bump it still cannot be read as the old one.
const itemLayout = 3

// RestartReport says how a store with a memory file started.
type RestartReport struct {
	MemoryFile string
	Warm       bool   // items were restored from the memory file
	Items      uint64 // how many
	Took       time.Duration
	// SaveOnClose says Close will save the memory for the next start
	// (PersistOnClose was called).
	SaveOnClose bool
	Log         []string // memcached's "[restart] ..." lines, in order
}

// persistState is the warm-restart state of the arena.
type persistState struct {
	report   RestartReport
	save     bool // Close saves the metadata (PersistOnClose)
	closed   bool
	closeErr error
}

// Restart reports how the store started: warm or cold, and why.
func (s *Store) Restart() RestartReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.arena.persist.report
	r.Log = append([]string(nil), r.Log...)
	r.SaveOnClose = s.arena.persist.save
	return r
}

// savedState is what a metadata file holds beside the settings.
type savedState struct {
	started           int64
	casSeq, oldestCAS uint64
	oldestLive        uint32
	hashPower         uint32
	nextPage          uint32
	pool              []uint32
	classes           map[uint8]*savedClass
	seen              map[string]bool
}

// savedClass is one class's part of the page table.
type savedClass struct {
	pages           []uint32
	endRef, endLeft uint32
	tails           [numSegments]uint32
}

// settingLines are the settings a restart must find unchanged, with
// memcached's names first so its messages name the same setting.
func (s *Store) settingLines() []metaLine {
	c := s.cfg
	slabConfig := strconv.FormatFloat(c.GrowthFactor, 'g', -1, 64)
	if c.SlabSizes != "" {
		slabConfig = c.SlabSizes // memcached keeps the unedited list
	}
	return []metaLine{
		{"slab_config", slabConfig},
		{"maxbytes", strconv.FormatUint(c.MemoryLimit, 10)},
		{"chunk_size", strconv.Itoa(c.MinChunk)},
		{"item_size_max", strconv.FormatUint(uint64(c.ItemSizeMax), 10)},
		{"slab_chunk_size_max", strconv.FormatUint(uint64(c.ChunkMax), 10)},
		{"slab_page_size", strconv.FormatUint(uint64(c.PageSize), 10)},
		{"use_cas", strconv.FormatBool(c.CAS)},
		{"slab_reassign", strconv.FormatBool(c.SlabReassign)},
		{"memcached_item_sizes", strconv.FormatBool(c.MemcachedItemSizes)},
		{"item_layout", fmt.Sprintf("%d:%d.%d.%d.%d.%d.%d/%d.%d", itemLayout,
			offPrev, offNext, offTime, expShift, offIFlags, offCAS, flagLinked, flagChunked)},
	}
}

// stateKeys are the other lines every metadata file has.
var stateKeys = []string{"current_time", "process_started", "stop_time", "current_cas",
	"oldest_cas", "hashpower", "oldest_live", "arena_pages", "pool"}

// restore opens the memory file's contents: warm when its metadata agrees,
// else cold, with the file cleared.
func (s *Store) restore() error {
	f := s.arena.file
	if f == nil {
		return nil
	}
	rep := &s.arena.persist.report
	rep.MemoryFile = f.path
	start := time.Now()
	warm, found, err := s.warm(rep)
	if err != nil {
		return err
	}
	rep.Took = time.Since(start)
	if warm {
		rep.Warm = true
		return nil
	}
	if found {
		rep.Log = append(rep.Log, "[restart] failed to validate metadata, starting with a clean cache")
	}
	s.coldReset()
	return f.discard()
}

// warm tries the restart; found says whether there was metadata to try.
// A metadata file that cannot be read is an error: memcached aborts on
// one, and starting cold would throw away a cache that may only need its
// file put back.
func (s *Store) warm(rep *RestartReport) (warm, found bool, err error) {
	f := s.arena.file
	path := f.path + metaSuffix
	data, err := readMetaFile(path)
	switch {
	case errors.Is(err, errNoMeta):
		rep.Log = append(rep.Log, "[restart] no metadata save file, starting with a clean cache")
		return false, false, nil
	case err != nil:
		return false, true, fmt.Errorf("[restart] %w", err)
	}
	lines, ok := parseMeta(data, &rep.Log)
	if !ok {
		return false, true, fmt.Errorf("%s: %s cannot be read; move it away to start with an empty cache",
			strings.Join(rep.Log, "; "), path)
	}
	if err := os.Remove(path); err != nil {
		return false, true, fmt.Errorf("[restart] removing %s: %w", path, err)
	}
	st, ok := s.loadMeta(lines, &rep.Log)
	if !ok {
		return false, true, nil
	}
	if f.found != f.mapped {
		rep.Log = append(rep.Log, fmt.Sprintf("[restart] memory file is %d bytes, not the %d its settings map", f.found, f.mapped))
		return false, true, nil
	}
	if err := s.fixup(st); err != nil {
		rep.Log = append(rep.Log, fmt.Sprintf("[restart] memory file does not match its metadata: %v", err))
		return false, true, nil
	}
	rep.Items = s.total
	return true, true, nil
}

// loadMeta checks the settings lines against the store's and reads the
// rest, in file order, with memcached's messages.
func (s *Store) loadMeta(lines []metaLine, log *[]string) (*savedState, bool) {
	want := map[string]string{}
	required := append([]string(nil), stateKeys...)
	for _, l := range s.settingLines() {
		want[l.key] = l.val
		required = append(required, l.key)
	}
	st := &savedState{classes: map[uint8]*savedClass{}, seen: map[string]bool{}}
	ok := true
	for _, l := range lines {
		var err error
		if v, ok := want[l.key]; ok {
			if l.val != v {
				err = errors.New("changed")
			}
		} else if known, e := s.loadLine(st, l); known {
			err = e
		} else {
			*log = append(*log, "[restart] unknown/unhandled key: "+l.key)
			continue
		}
		if err != nil {
			*log = append(*log, fmt.Sprintf("[restart] restart incompatible due to setting for [%s] [old value: %s]", l.key, l.val))
			ok = false
			break
		}
		st.seen[l.key] = true
	}
	// Like memcached, this also counts the lines an incompatible setting
	// kept it from reading, so that message comes with this one.
	for _, k := range required {
		if !st.seen[k] {
			*log = append(*log, "[restart] missing some metadata lines")
			return nil, false
		}
	}
	return st, ok
}

// loadLine reads one state or page-table line; known is false for a key
// this version does not write.
func (s *Store) loadLine(st *savedState, l metaLine) (known bool, err error) {
	u64 := func() uint64 {
		n, e := strconv.ParseUint(l.val, 10, 64)
		err = e
		return n
	}
	u32 := func() uint32 {
		n, e := strconv.ParseUint(l.val, 10, 32)
		err = e
		return uint32(n)
	}
	switch l.key {
	case "current_time":
		u32()
	case "process_started":
		st.started, err = strconv.ParseInt(l.val, 10, 64)
	case "stop_time":
		var stop int64
		if stop, err = strconv.ParseInt(l.val, 10, 64); err == nil && s.cfg.Now() < stop {
			// The clock went back: ages and expiry times would be wrong.
			// memcached also refuses a restart within the same second;
			// that only makes a quick upgrade cold, so it is allowed here.
			err = errors.New("stopped in the future")
		}
	case "current_cas":
		st.casSeq = u64()
	case "oldest_cas":
		st.oldestCAS = u64()
	case "oldest_live":
		st.oldestLive = u32()
	case "hashpower":
		if st.hashPower = u32(); err == nil && (st.hashPower == 0 || st.hashPower > 31) {
			err = errors.New("out of range")
		}
	case "arena_pages":
		st.nextPage = u32()
	case "pool":
		st.pool, err = parseUints(l.val)
	default:
		return s.loadClassLine(st, l)
	}
	return true, err
}

// loadClassLine reads a class's pages_N, carve_N or lru_N line.
func (s *Store) loadClassLine(st *savedState, l metaLine) (known bool, err error) {
	name, idText, ok := strings.Cut(l.key, "_")
	if !ok || (name != "pages" && name != "carve" && name != "lru") {
		return false, nil
	}
	id, err := strconv.ParseUint(idText, 10, 8)
	if err != nil || id < smallestCls || int(id) >= len(s.classes) {
		return true, errors.New("no such class")
	}
	c := st.classes[uint8(id)]
	if c == nil {
		c = &savedClass{}
		st.classes[uint8(id)] = c
	}
	ns, err := parseUints(l.val)
	switch {
	case err != nil:
		return true, err
	case name == "pages":
		c.pages = ns
	case name == "carve" && len(ns) == 2:
		c.endRef, c.endLeft = ns[0], ns[1]
	case name == "lru" && len(ns) == int(numSegments):
		copy(c.tails[:], ns)
	default:
		return true, errors.New("wrong number of values")
	}
	return true, nil
}

// coldReset undoes whatever a failed restore set up.
func (s *Store) coldReset() {
	for i := range s.classes {
		c := &s.classes[i]
		*c = slabClass{size: c.size, perPage: c.perPage}
	}
	a := s.arena
	a.nextPage, a.malloced, a.pool, a.limitSeen = 1, 0, nil, false
	s.idx.release()
	s.idx = newIndex(s.cfg.HashPower, !s.cfg.NoHugePages)
	clear(s.chunkHeads)
	s.bytes, s.total = 0, 0
	s.casSeq, s.oldestCAS, s.oldestLive = 0, 0, 0
	s.started = s.cfg.Now() - updateInterval - 2
}
