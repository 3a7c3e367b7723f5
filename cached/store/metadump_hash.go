package store

// MetadumpHash is `lru_crawler metadump hash`: every live item, in hash
// table order rather than LRU order, so items linked or bumped during the
// dump are neither missed nor repeated. It counts as a crawl (one start,
// refused beside another crawl) and holds hash table doubling off until it
// ends, as memcached's hash iterator does: no entry moves while it walks.
// Only a table 15/16 full is resized under a walk (an insert could
// otherwise find no free slot); the walk then goes on at the same
// position in the new array, where it may repeat or miss items that moved.
// emit runs outside the store lock; its error ends the dump and is
// returned.
func (s *Store) MetadumpHash(emit func(MetaItem) error) (CrawlResult, error) {
	s.mu.Lock()
	if r := s.startHashWalk(); r != CrawlOK {
		s.mu.Unlock()
		return r, nil
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.idx.walking = false
		if s.idx.tombs > 0 && !s.idx.expanding() {
			// Deletes during the walk left tombstones: drop them.
			s.idx.startResize()
		}
		s.finishCrawl()
		s.mu.Unlock()
	}()
	var batch []MetaItem
	var keys []byte
	var ends []int
	for pos := 0; ; {
		batch, keys, ends = batch[:0], keys[:0], ends[:0]
		s.mu.Lock()
		now := s.Now()
		if s.idx.expanding() {
			s.idx.migrate(len(s.idx.old))
		}
		for ; pos < len(s.idx.slots) && len(batch) < crawlBatch; pos++ {
			ref := uint32(s.idx.slots[pos])
			if ref == 0 || s.deadOnTail(ref, now) {
				continue
			}
			keys = append(keys, s.key(ref)...)
			ends = append(ends, len(keys))
			batch = append(batch, s.metaItem(ref))
		}
		done := pos >= len(s.idx.slots)
		s.mu.Unlock()
		start := 0
		for i := range batch {
			batch[i].Key = keys[start:ends[i]:ends[i]]
			start = ends[i]
			if err := emit(batch[i]); err != nil {
				return CrawlOK, err
			}
		}
		if done {
			return CrawlOK, nil
		}
	}
}

// startHashWalk claims the crawler for a hash walk (lock held): a table
// still resizing is finished first, so one array holds every item.
func (s *Store) startHashWalk() CrawlResult {
	cr := &s.crawl
	switch {
	case !cr.enabled:
		return CrawlDisabled
	case cr.running:
		cr.blockAutoUntil = s.Now() + 60
		return CrawlRunning
	}
	if s.idx.expanding() {
		s.idx.migrate(len(s.idx.old))
	}
	s.idx.walking = true
	cr.running, cr.kind = true, crawlMetadump
	s.st.LRUCrawlerStarts++
	return CrawlOK
}
