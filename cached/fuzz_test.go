package cached

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// memConn is a connection over memory: the request bytes in, replies out.
// It keeps the first 16 MB of replies (a multi-get of a large value may
// legitimately answer gigabytes) and counts the rest.
type memConn struct {
	in        *bytes.Reader
	out       bytes.Buffer
	truncated bool
	maxWrite  int
}

func (m *memConn) Read(p []byte) (int, error) { return m.in.Read(p) }
func (m *memConn) Write(p []byte) (int, error) {
	m.maxWrite = max(m.maxWrite, len(p))
	if m.out.Len()+len(p) > 16<<20 {
		m.truncated = true
		return len(p), nil
	}
	return m.out.Write(p)
}

var (
	fuzzOnce sync.Once
	fuzzSrv  *Server
)

// fuzzServer is one small server shared by all inputs of a fuzz process,
// so state (items, flushes, stats) carries from input to input.
func fuzzServer(t testing.TB) *Server {
	fuzzOnce.Do(func() {
		cfg := DefaultConfig()
		cfg.Store.MemoryLimit = 8 << 20
		// Small items, several chunks each: chunked items get fuzzed, and a
		// multi-get naming one item thousands of times stays cheap.
		cfg.Store.ItemSizeMax = 64 << 10
		cfg.Store.ChunkMax = 16 << 10
		srv, err := New(cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		fuzzSrv = srv
	})
	return fuzzSrv
}

// replyLine is every line shape the text protocol may send.
var replyLine = regexp.MustCompile(`^(STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED|OK|RESET|END|ERROR|MN|[0-9]+|` +
	`VERSION \S+|CLIENT_ERROR [ -~]+|SERVER_ERROR [ -~]+|ERROR:? [ -~]+|MEMLIMIT_[A-Z_]+ [ -~]+|` +
	`(BUSY|BADCLASS|NOSPARE|SAME|NOTSTARTED) [ -~]+|WATCHER_[A-Z_]+ [ -~]+|` +
	`STAT \S+ [ -~]*|ITEM [^ ]+ \[\d+ b; \d+ s\])$`)

var valueLine = regexp.MustCompile(`^VALUE ([^ ]{1,250}) (\d+) (\d+)( \d+)?$`)

// metadumpLine is one item of lru_crawler metadump, terminated by a bare
// LF as memcached sends it; the dump ends with a CRLF END.
var metadumpLine = regexp.MustCompile(`^key=[A-Za-z0-9%._~-]+ exp=-?\d+ la=\d+ cas=\d+ fetch=(yes|no) cls=\d+ size=\d+$`)

// checkReplies walks the reply stream: every line well formed and CRLF
// terminated, every VALUE followed by exactly its data and a CRLF.
func checkReplies(t *testing.T, out []byte) {
	for len(out) > 0 {
		i := bytes.Index(out, []byte("\r\n"))
		if i < 0 {
			t.Fatalf("reply without CRLF: %q", out)
		}
		line := string(out[:i])
		out = out[i+2:]
		for {
			item, rest, ok := strings.Cut(line, "\n")
			if !ok {
				break
			}
			if !metadumpLine.MatchString(item) {
				t.Fatalf("malformed metadump line %q", item)
			}
			line = rest
		}
		if m := valueLine.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[3])
			if len(out) < n+2 || string(out[n:n+2]) != "\r\n" {
				t.Fatalf("VALUE of %d bytes not followed by its data and CRLF: %q", n, out[:min(len(out), 80)])
			}
			out = out[n+2:]
			continue
		}
		if !replyLine.MatchString(line) {
			t.Fatalf("malformed reply line %q", line)
		}
	}
}

// FuzzText drives the request parser and the whole text protocol with
// arbitrary bytes: no panic, well-formed replies, bounded memory (a
// declared value length is never allocated beyond the item limit).
func FuzzText(f *testing.F) {
	files, _ := filepath.Glob("testdata/transcripts/*.txt")
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		tr, err := parseTranscript(filepath.Base(file), src)
		if err != nil {
			f.Fatal(err)
		}
		var in []byte
		for _, st := range tr.steps {
			if strings.HasPrefix(st.op, ">") && len(in)+len(st.data) <= 64<<10 {
				in = append(in, st.data...)
			}
		}
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := fuzzServer(t)
		mc := &memConn{in: bytes.NewReader(data)}
		c := newConn(srv, mc)
		err := c.serve()
		if err != nil && err != io.EOF && !errors.Is(err, errClose) && err != io.ErrUnexpectedEOF && err != io.ErrNoProgress {
			t.Fatalf("serve: %v", err)
		}
		if p := srv.panics.Load(); p != 0 {
			t.Fatalf("%d panics", p)
		}
		if got, limit := cap(c.in), max(readBufferSize, 2*len(data)+readBufferSize); got > limit {
			t.Fatalf("input buffer grew to %d bytes for %d bytes of input", got, len(data))
		}
		st := srv.store.Stats()
		if st.TotalMalloced > st.LimitMaxbytes+64<<20 {
			t.Fatalf("total_malloced %d, limit %d", st.TotalMalloced, st.LimitMaxbytes)
		}
		// The daemon never holds much more than one value plus its flush
		// threshold of replies (or a cachedump, capped at 2 MB), however
		// large the whole answer.
		if limit := flushThreshold + int(srv.store.Config().ItemSizeMax) + 3<<20; mc.maxWrite > limit {
			t.Fatalf("one write of %d bytes: replies were buffered beyond %d", mc.maxWrite, limit)
		}
		if !mc.truncated {
			checkReplies(t, mc.out.Bytes())
		}
	})
}
