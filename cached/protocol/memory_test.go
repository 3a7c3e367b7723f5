package protocol

import (
	"reflect"
	"testing"
)

func tokens(line string) [][]byte {
	var t Tokens
	toks, _ := Tokenize([]byte(line), &t)
	return toks
}

// The memory-management commands as memcached 1.6.18 reads them.
func TestParseMemoryCommands(t *testing.T) {
	for _, tc := range []struct {
		line string
		want any
		err  error
	}{
		{"lru_crawler crawl 1,2", CrawlerRequest{Op: CrawlerCrawl, Classes: []byte("1,2")}, nil},
		{"lru_crawler metadump all", CrawlerRequest{Op: CrawlerMetadump, Classes: []byte("all")}, nil},
		{"lru_crawler tocrawl 10", CrawlerRequest{Op: CrawlerToCrawl, Classes: []byte("10"), N: 10}, nil},
		{"lru_crawler tocrawl -1", nil, ErrBadFormat},
		{"lru_crawler sleep 1000000", CrawlerRequest{Op: CrawlerSleep, Classes: []byte("1000000"), N: 1000000}, nil},
		{"lru_crawler sleep 1000001", nil, ErrCrawlerSleep},
		{"lru_crawler enable", CrawlerRequest{Op: CrawlerEnable}, nil},
		{"lru_crawler disable", CrawlerRequest{Op: CrawlerDisable}, nil},
		{"lru_crawler crawl 1 noreply", nil, ErrUnknownCommand},
		{"lru_crawler mgdump all", nil, ErrUnknownCommand},
		{"lru_crawler", nil, ErrUnknownCommand},
		{"slabs reassign 1 2", SlabsRequest{Op: SlabsReassign, Src: 1, Dst: 2}, nil},
		{"slabs reassign -1 x", SlabsRequest{Op: SlabsReassign}, ErrBadFormat},
		{"slabs bogus 1 2", SlabsRequest{}, ErrUnknownCommand},
		{"slabs reassign 1 2 noreply", nil, ErrUnknownCommand},
		{"slabs automove 2", SlabsRequest{Op: SlabsAutomove, Level: 2}, nil},
		{"slabs automove 3", nil, ErrUnknownCommand},
		{"slabs automove x", nil, ErrBadFormat},
		{"slabs automove 1 noreply", SlabsRequest{Op: SlabsAutomove, Level: 1, Noreply: true}, nil},
		{"slabs automove ratio 0.5", SlabsRequest{Op: SlabsAutomoveRatio, Ratio: 0.5}, nil},
		{"slabs automove ratio", nil, ErrUnknownCommand},
		{"slabs automove", nil, ErrUnknownCommand},
		{"lru tune 10 50 0.5 2", LRURequest{Op: LRUTune, HotPct: 10, WarmPct: 50, HotFactor: 0.5, WarmFactor: 2}, nil},
		{"lru tune 10 50 x 2", nil, ErrUnknownCommand},
		{"lru tune 10 50 0.5", nil, ErrUnknownCommand},
		{"lru mode segmented noreply", LRURequest{Op: LRUMode, Segmented: true, Noreply: true}, nil},
		{"lru mode bogus", nil, ErrUnknownCommand},
		{"lru temp_ttl -1", LRURequest{Op: LRUTempTTL, TTL: -1}, nil},
		{"lru bogus 1", nil, ErrUnknownCommand},
	} {
		toks := tokens(tc.line)
		var got any
		var err error
		switch string(toks[0]) {
		case "lru_crawler":
			got, err = ParseLRUCrawler(toks)
		case "slabs":
			got, err = ParseSlabs(toks)
		default:
			got, err = ParseLRU(toks)
		}
		if err != tc.err || (tc.want != nil && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%q: got %+v, %v; want %+v, %v", tc.line, got, err, tc.want, tc.err)
		}
	}
}

func TestParseCrawlClasses(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		ids  []int
		hash bool
		err  error
	}{
		{"all", nil, false, nil},
		{"hash", nil, true, nil},
		{"1,,63", []int{1, 63}, false, nil},
		{",", []int{}, false, nil},
		{"0", nil, false, ErrCrawlerBadClass},
		{"64", nil, false, ErrCrawlerBadClass},
		{"1x", nil, false, ErrCrawlerBadClass},
	} {
		ids, hash, err := ParseCrawlClasses([]byte(tc.arg))
		if !reflect.DeepEqual(ids, tc.ids) || hash != tc.hash || err != tc.err {
			t.Errorf("%q: %v %v %v; want %v %v %v", tc.arg, ids, hash, err, tc.ids, tc.hash, tc.err)
		}
	}
}
