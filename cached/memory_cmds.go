package cached

import (
	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/cached/store"
)

// The commands of memcached's long-run memory management: the LRU crawler,
// the slab page mover and the LRU tuning, each answered as memcached
// 1.6.18's proto_text.c answers it. The work itself is the store's.

var crawlReplies = [...]string{
	store.CrawlOK:         protocol.ReplyOK,
	store.CrawlRunning:    protocol.ReplyCrawlerBusy,
	store.CrawlBadClass:   protocol.ReplyCrawlerBadClass,
	store.CrawlNotStarted: protocol.ReplyCrawlerNotStarted,
	store.CrawlDisabled:   protocol.ReplyCrawlerDisabled,
}

var reassignReplies = [...]string{
	store.ReassignOK:       protocol.ReplyOK,
	store.ReassignRunning:  protocol.ReplyReassignBusy,
	store.ReassignBadClass: protocol.ReplyReassignBadClass,
	store.ReassignNoSpare:  protocol.ReplyReassignNoSpare,
	store.ReassignSame:     protocol.ReplyReassignSame,
	store.ReassignDisabled: protocol.ReplyReassignDisabled,
}

// lruCrawler is lru_crawler enable|disable|crawl|metadump|tocrawl|sleep.
func (c *conn) lruCrawler(toks [][]byte, _ []byte) error {
	req, err := protocol.ParseLRUCrawler(toks)
	if err != nil {
		return c.refuse(false, err)
	}
	st := c.srv.store
	switch req.Op {
	case protocol.CrawlerCrawl, protocol.CrawlerMetadump:
		if !st.Config().LRUCrawler {
			c.reply(protocol.ReplyCrawlerDisabled)
			return nil
		}
		if req.Op == protocol.CrawlerMetadump {
			return c.metadump(req.Classes)
		}
		c.crawl(req.Classes)
	case protocol.CrawlerToCrawl:
		st.SetCrawlerToCrawl(req.N)
		c.reply(protocol.ReplyOK)
	case protocol.CrawlerSleep:
		if err := st.SetCrawlerSleep(req.N); err != nil {
			return c.refuse(false, protocol.ErrCrawlerSleep)
		}
		c.reply(protocol.ReplyOK)
	case protocol.CrawlerEnable:
		if err := st.EnableCrawler(); err != nil {
			c.reply(protocol.ReplyCrawlerNoStart)
			return nil
		}
		c.reply(protocol.ReplyOK)
	case protocol.CrawlerDisable:
		st.DisableCrawler()
		c.reply(protocol.ReplyOK)
	}
	return nil
}

// crawl starts an expiry crawl. A hash table walk is only for metadump:
// memcached refuses it as an unknown error unless a crawl is running.
func (c *conn) crawl(classes []byte) {
	ids, hash, err := protocol.ParseCrawlClasses(classes)
	switch {
	case err != nil:
		c.refuse(false, err)
	case hash && c.srv.store.Stats().LRUCrawlerRunning:
		c.reply(protocol.ReplyCrawlerBusy)
	case hash:
		c.reply(protocol.ReplyCrawlerError)
	default:
		c.reply(crawlReplies[c.srv.store.Crawl(ids)])
	}
}

// metadump streams one line per live item, then END. memcached hands the
// socket to its crawler thread for the dump, so it refuses a metadump
// behind replies still waiting to be sent.
func (c *conn) metadump(classes []byte) error {
	if c.srv.cfg.DisableDumping {
		c.reply(protocol.ReplyMetadumpNotAllowed)
		return nil
	}
	ids, hash, err := protocol.ParseCrawlClasses(classes)
	if err != nil {
		return c.refuse(false, err)
	}
	if len(c.out) > 0 {
		c.reply(protocol.ReplyMetadumpPipelined)
		return nil
	}
	emit := func(m store.MetaItem) error {
		c.out = store.AppendMetadump(c.out, m)
		if len(c.out) < flushThreshold {
			return nil
		}
		return c.flushBeforeWait()
	}
	var r store.CrawlResult
	if hash {
		r, err = c.srv.store.MetadumpHash(emit)
	} else {
		r, err = c.srv.store.Metadump(ids, emit)
	}
	switch {
	case err != nil:
		c.closing = true
		return nil
	case r != store.CrawlOK:
		c.reply(crawlReplies[r])
	default:
		c.endList()
	}
	return nil
}

// slabs is slabs reassign <src> <dst> and slabs automove <0|1|2>|ratio <r>.
func (c *conn) slabs(toks [][]byte, _ []byte) error {
	req, err := protocol.ParseSlabs(toks)
	st := c.srv.store
	if req.Op == protocol.SlabsReassign && !st.Config().SlabReassign {
		// memcached answers this before it reads the class ids.
		c.reply(protocol.ReplyReassignDisabled)
		return nil
	}
	if err != nil {
		return c.refuse(req.Noreply, err)
	}
	c.noreply = req.Noreply
	switch req.Op {
	case protocol.SlabsReassign:
		c.reply(reassignReplies[st.Reassign(int(req.Src), int(req.Dst))])
	case protocol.SlabsAutomove:
		if err := st.SetAutomove(int(req.Level)); err != nil {
			return c.refuse(req.Noreply, protocol.ErrUnknownCommand)
		}
		c.reply(protocol.ReplyOK)
	case protocol.SlabsAutomoveRatio:
		st.SetAutomoveRatio(req.Ratio)
		c.reply(protocol.ReplyOK)
	}
	return nil
}

// lru is lru tune, lru mode and lru temp_ttl.
func (c *conn) lru(toks [][]byte, _ []byte) error {
	req, err := protocol.ParseLRU(toks)
	if err != nil {
		return c.refuse(req.Noreply, err)
	}
	c.noreply = req.Noreply
	st := c.srv.store
	switch req.Op {
	case protocol.LRUTune:
		err = st.TuneLRU(req.HotPct, req.WarmPct, req.HotFactor, req.WarmFactor)
	case protocol.LRUMode:
		err = st.SetLRUSegmented(req.Segmented)
	case protocol.LRUTempTTL:
		err = st.SetTemporaryTTL(req.TTL)
	}
	switch err {
	case nil:
		c.reply(protocol.ReplyOK)
	case store.ErrLRUPcts:
		c.reply(protocol.ReplyLRUPcts)
	case store.ErrLRUFactors:
		c.reply(protocol.ReplyLRUFactors)
	default:
		// mode and temp_ttl need the maintainer; memcached says ERROR.
		c.reply(protocol.ReplyError)
	}
	return nil
}
