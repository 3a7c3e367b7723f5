package protocol

import (
	"bytes"
	"strconv"
)

// The commands of memcached's long-run memory management: lru_crawler,
// slabs and lru, read as proto_text.c 1.6.18 reads them. memcached counts
// the terminating empty token in its ntokens; the token counts here are of
// real tokens, one fewer. Only slabs automove and lru honour noreply.

// CrawlerOp is the subcommand of lru_crawler.
type CrawlerOp uint8

const (
	CrawlerCrawl    CrawlerOp = iota // crawl <ids|all>
	CrawlerMetadump                  // metadump <ids|all|hash>
	CrawlerToCrawl                   // tocrawl <n>
	CrawlerSleep                     // sleep <microseconds>
	CrawlerEnable                    // enable
	CrawlerDisable                   // disable
)

// CrawlerRequest is an lru_crawler command. Classes stays unread text
// until ParseCrawlClasses, because memcached checks that the crawler is
// enabled before it looks at the class list.
type CrawlerRequest struct {
	Op      CrawlerOp
	Classes []byte
	N       uint32 // tocrawl items, sleep microseconds
}

// maxCrawlerSleep is the longest lru_crawler sleep: one second.
const maxCrawlerSleep = 1_000_000

// ParseLRUCrawler reads lru_crawler's subcommands; anything else is ERROR.
func ParseLRUCrawler(toks [][]byte) (CrawlerRequest, error) {
	var r CrawlerRequest
	switch {
	case len(toks) == 3:
		return parseCrawlerArg(toks)
	case len(toks) == 2 && string(toks[1]) == "enable":
		r.Op = CrawlerEnable
	case len(toks) == 2 && string(toks[1]) == "disable":
		r.Op = CrawlerDisable
	default:
		return r, ErrUnknownCommand
	}
	return r, nil
}

func parseCrawlerArg(toks [][]byte) (CrawlerRequest, error) {
	r := CrawlerRequest{Classes: toks[2]}
	switch string(toks[1]) {
	case "crawl":
		r.Op = CrawlerCrawl
	case "metadump":
		r.Op = CrawlerMetadump
	case "tocrawl", "sleep":
		r.Op = CrawlerToCrawl
		if string(toks[1]) == "sleep" {
			r.Op = CrawlerSleep
		}
		n, ok := ParseUint32(toks[2])
		switch {
		case !ok:
			return r, ErrBadFormat
		case r.Op == CrawlerSleep && n > maxCrawlerSleep:
			return r, ErrCrawlerSleep
		}
		r.N = n
	default:
		return r, ErrUnknownCommand
	}
	return r, nil
}

// Crawl class lists, as memcached's lru_crawler_crawl reads them.
const (
	smallestClass = 1  // POWER_SMALLEST
	classIDLimit  = 64 // MAX_NUMBER_OF_SLAB_CLASSES
)

// ParseCrawlClasses reads "all" (ids nil), "hash" (a hash table walk) or a
// comma-separated list of class ids; empty items are skipped, as strtok
// skips them, so "," names no class at all. A bad id is BADCLASS.
func ParseCrawlClasses(arg []byte) (ids []int, hash bool, err error) {
	switch string(arg) {
	case "all":
		return nil, false, nil
	case "hash":
		return nil, true, nil
	}
	ids = []int{}
	for _, f := range bytes.Split(arg, []byte{','}) {
		if len(f) == 0 {
			continue
		}
		id, ok := ParseUint32(f)
		if !ok || id < smallestClass || id >= classIDLimit {
			return nil, false, ErrCrawlerBadClass
		}
		ids = append(ids, int(id))
	}
	return ids, false, nil
}

// SlabsOp is the subcommand of slabs.
type SlabsOp uint8

const (
	SlabsUnknown       SlabsOp = iota
	SlabsReassign              // reassign <src> <dst>
	SlabsAutomove              // automove <0|1|2>
	SlabsAutomoveRatio         // automove ratio <r>
)

// SlabsRequest is a slabs command.
type SlabsRequest struct {
	Op       SlabsOp
	Src, Dst int32
	Level    uint32
	Ratio    float64
	Noreply  bool
}

// ParseSlabs reads slabs reassign and slabs automove. The Op is set even
// when the arguments are refused: memcached answers a reassign with the
// mover off before it reads the class ids.
func ParseSlabs(toks [][]byte) (SlabsRequest, error) {
	var r SlabsRequest
	switch {
	case len(toks) == 4 && string(toks[1]) == "reassign":
		r.Op = SlabsReassign
		src, ok1 := ParseInt32(toks[2])
		dst, ok2 := ParseInt32(toks[3])
		if !ok1 || !ok2 {
			return r, ErrBadFormat
		}
		r.Src, r.Dst = src, dst
		return r, nil
	case len(toks) >= 3 && string(toks[1]) == "automove":
		return parseAutomove(toks)
	}
	return r, ErrUnknownCommand
}

func parseAutomove(toks [][]byte) (SlabsRequest, error) {
	r := SlabsRequest{Op: SlabsAutomove, Noreply: noreply(toks)}
	if string(toks[2]) == "ratio" {
		r.Op = SlabsAutomoveRatio
		f, ok := ParseFloat(toks, 3)
		if len(toks) < 4 || !ok {
			return r, ErrUnknownCommand
		}
		r.Ratio = f
		return r, nil
	}
	level, ok := ParseUint32(toks[2])
	switch {
	case !ok:
		return r, ErrBadFormat
	case level > 2:
		return r, ErrUnknownCommand
	}
	r.Level = level
	return r, nil
}

// LRUOp is the subcommand of lru.
type LRUOp uint8

const (
	LRUTune    LRUOp = iota // tune <hot pct> <warm pct> <hot factor> <warm factor>
	LRUMode                 // mode flat|segmented
	LRUTempTTL              // temp_ttl <seconds>; negative turns TEMP off
)

// LRURequest is an lru command.
type LRURequest struct {
	Op                    LRUOp
	HotPct, WarmPct       uint32
	HotFactor, WarmFactor float64
	Segmented             bool
	TTL                   int32
	Noreply               bool
}

// ParseLRU reads lru tune, lru mode and lru temp_ttl; a malformed one is
// ERROR. memcached takes mode and temp_ttl only while its maintainer
// runs, which the caller checks.
func ParseLRU(toks [][]byte) (LRURequest, error) {
	r := LRURequest{Noreply: noreply(toks)}
	switch {
	case string(toks[1]) == "tune" && len(toks) >= 6:
		hot, ok1 := ParseUint32(toks[2])
		warm, ok2 := ParseUint32(toks[3])
		hf, ok3 := ParseFloat(toks, 4)
		wf, ok4 := ParseFloat(toks, 5)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return r, ErrUnknownCommand
		}
		r.HotPct, r.WarmPct, r.HotFactor, r.WarmFactor = hot, warm, hf, wf
	case string(toks[1]) == "mode" && len(toks) >= 3:
		r.Op = LRUMode
		switch string(toks[2]) {
		case "flat":
		case "segmented":
			r.Segmented = true
		default:
			return r, ErrUnknownCommand
		}
	case string(toks[1]) == "temp_ttl" && len(toks) >= 3:
		r.Op = LRUTempTTL
		ttl, ok := ParseInt32(toks[2])
		if !ok {
			return r, ErrUnknownCommand
		}
		r.TTL = ttl
	default:
		return r, ErrUnknownCommand
	}
	return r, nil
}

// ParseFloat is safe_strtod on toks[i]: false when the token is missing,
// not a whole number, or out of range.
func ParseFloat(toks [][]byte, i int) (float64, bool) {
	if i >= len(toks) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(toks[i]), 64)
	return f, err == nil
}
