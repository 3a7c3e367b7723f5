package store

import "strconv"

// MetaItem is what memcached's `lru_crawler metadump` reports per item.
type MetaItem struct {
	Key        []byte // valid only during the callback
	Exp        int64  // absolute Unix time; -1 = never
	LastAccess int64  // absolute Unix time of the last bump
	CAS        uint64
	Fetched    bool
	Class      uint8
	Size       uint64 // memcached's ITEM_ntotal
}

// capRemaining asks startSegment to crawl only as many items as the
// segment holds when the crawl starts (memcached's
// LRU_CRAWLER_CAP_REMAINING), so a dump of a busy cache ends.
const capRemaining = ^uint32(0)

// Metadump walks the given classes (nil = all) as the crawler does and
// calls emit for every live item, outside the store lock, a batch at a
// time. An error from emit (a client that went away) ends the dump and is
// returned. Like memcached, it refuses to run beside another crawl.
func (s *Store) Metadump(ids []int, emit func(MetaItem) error) (CrawlResult, error) {
	todo, ok := crawlTarget(ids)
	if !ok {
		return CrawlBadClass, nil
	}
	s.mu.Lock()
	r := s.startCrawl(todo, capRemaining, crawlMetadump)
	s.mu.Unlock()
	if r != CrawlOK {
		return r, nil
	}
	var batch []MetaItem
	var keys []byte // the batch's keys, back to back
	var ends []int  // where each key ends in keys
	for {
		batch, keys, ends = batch[:0], keys[:0], ends[:0]
		s.mu.Lock()
		n := s.crawlRound(crawlBatch, func(ref uint32) {
			keys = append(keys, s.key(ref)...)
			ends = append(ends, len(keys))
			batch = append(batch, s.metaItem(ref))
		})
		s.mu.Unlock()
		if n == 0 {
			return CrawlOK, nil
		}
		start := 0
		for i := range batch {
			batch[i].Key = keys[start:ends[i]:ends[i]]
			start = ends[i]
			if err := emit(batch[i]); err != nil {
				s.abortCrawl()
				return CrawlOK, err
			}
		}
	}
}

// metaItem reads an item's metadump fields but its key, which the caller
// copies (lock held).
func (s *Store) metaItem(ref uint32) MetaItem {
	m := MetaItem{
		Exp:        -1,
		LastAccess: int64(s.word(ref, offTime)) + s.started,
		CAS:        s.cas(ref),
		Fetched:    s.iflags(ref)&flagFetched != 0,
		Class:      s.class(ref),
		Size:       s.totalOf(ref),
	}
	if exp := s.exp(ref); exp != 0 {
		m.Exp = int64(exp) + s.started
	}
	return m
}

// abortCrawl ends every segment still being crawled.
func (s *Store) abortCrawl() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	for id := smallestCls; id < len(s.classes); id++ {
		for seg := segHot; seg < numSegments; seg++ {
			if s.classes[id].crawl[seg].on {
				s.crawlDone(uint8(id), seg, now)
			}
		}
	}
}

// AppendMetadump appends memcached's metadump line for m:
// "key=<uri-encoded> exp=<unix|-1> la=<unix> cas=<n> fetch=<yes|no>
// cls=<id> size=<bytes>\n".
func AppendMetadump(dst []byte, m MetaItem) []byte {
	dst = append(dst, "key="...)
	dst = appendURIEncoded(dst, m.Key)
	dst = append(dst, " exp="...)
	dst = strconv.AppendInt(dst, m.Exp, 10)
	dst = append(dst, " la="...)
	dst = strconv.AppendInt(dst, m.LastAccess, 10)
	dst = append(dst, " cas="...)
	dst = strconv.AppendUint(dst, m.CAS, 10)
	if m.Fetched {
		dst = append(dst, " fetch=yes cls="...)
	} else {
		dst = append(dst, " fetch=no cls="...)
	}
	dst = strconv.AppendUint(dst, uint64(m.Class), 10)
	dst = append(dst, " size="...)
	dst = strconv.AppendUint(dst, m.Size, 10)
	return append(dst, '\n')
}

// appendURIEncoded is memcached's uriencode: letters, digits and "-._~"
// stay, every other byte becomes %XX in upper-case hex.
func appendURIEncoded(dst, key []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range key {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			dst = append(dst, c)
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}
