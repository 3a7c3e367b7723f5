package cached

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Meta-command transcripts in testdata/meta/*.txt are played against this
// daemon and against the stock memcached 1.6.18; both must answer every
// line as written. Syntax:
//
//	# comment
//	> a request line, sent with CRLF
//	>q "a Go-quoted string, sent as is (no CRLF added)"
//	< an expected reply line; # stands for a number (CAS, TTL, times)
//
// $(c*n) in any line stands for n copies of the byte c. Each metaTranscript
// runs on a fresh server over one connection; a final mn proves that no
// reply is missing or extra.

type metaTranscript struct {
	send   []byte
	expect []string
}

var macro = regexp.MustCompile(`\$\((.)\*(\d+)\)`)

func expandMacros(s string) string {
	return macro.ReplaceAllStringFunc(s, func(m string) string {
		sub := macro.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[2])
		return strings.Repeat(sub[1], n)
	})
}

func parseMetaTranscript(t *testing.T, path string) metaTranscript {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tr metaTranscript
	for i, line := range strings.Split(string(data), "\n") {
		line = expandMacros(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, ">q "):
			s, err := strconv.Unquote(line[3:])
			if err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
			tr.send = append(tr.send, s...)
		case strings.HasPrefix(line, "> "), line == ">":
			tr.send = append(tr.send, strings.TrimPrefix(strings.TrimPrefix(line, ">"), " ")...)
			tr.send = append(tr.send, "\r\n"...)
		case strings.HasPrefix(line, "< "), line == "<":
			tr.expect = append(tr.expect, strings.TrimPrefix(strings.TrimPrefix(line, "<"), " "))
		default:
			t.Fatalf("%s:%d: line must start with #, >, >q or <: %q", path, i+1, line)
		}
	}
	tr.send = append(tr.send, "mn\r\n"...)
	tr.expect = append(tr.expect, "MN")
	return tr
}

// matchLine compares a reply line with an expected one, # matching a
// (possibly negative) number.
func matchLine(want, got string) bool {
	if !strings.Contains(want, "#") {
		return want == got
	}
	parts := strings.Split(want, "#")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^` + strings.Join(parts, `-?[0-9]+`) + `$`).MatchString(got)
}

// play sends a metaTranscript over one connection and reads until the final MN.
func play(t *testing.T, addr string, tr metaTranscript) []string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	go nc.Write(tr.send)
	var got []string
	rd := bufio.NewReader(nc)
	for len(got) < len(tr.expect) || (len(got) > 0 && got[len(got)-1] != "MN") {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Errorf("reading reply %d: %v", len(got)+1, err)
			return got
		}
		got = append(got, strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
		if len(got) > len(tr.expect)+10 {
			break
		}
	}
	return got
}

func checkTranscript(t *testing.T, name string, tr metaTranscript, got []string) {
	t.Helper()
	var diff strings.Builder
	for i := 0; i < max(len(got), len(tr.expect)); i++ {
		var w, g string = "(nothing)", "(nothing)"
		if i < len(tr.expect) {
			w = tr.expect[i]
		}
		if i < len(got) {
			g = got[i]
		}
		mark := " "
		if i >= len(tr.expect) || i >= len(got) || !matchLine(w, g) {
			mark = "!"
		}
		fmt.Fprintf(&diff, "%s %3d want %q\n        got  %q\n", mark, i+1, clip(w), clip(g))
	}
	if strings.Contains(diff.String(), "! ") {
		t.Errorf("%s: replies differ (! marks a mismatch):\n%s", name, diff.String())
	}
}

// clip shortens long lines (large values) in failure reports.
func clip(s string) string {
	if len(s) > 120 {
		return fmt.Sprintf("%s...(%d bytes)", s[:100], len(s))
	}
	return s
}

func TestMetaTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/meta/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		tr := parseMetaTranscript(t, f)
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			t.Run("cached", func(t *testing.T) {
				checkTranscript(t, f, tr, play(t, startTestDaemon(t), tr))
			})
			t.Run("memcached", func(t *testing.T) {
				checkTranscript(t, f, tr, play(t, startMemcached(t).addr, tr))
			})
		})
	}
}

// startTestDaemon runs this package's daemon in-process on a loopback port
// until the test ends.
// startTestDaemon places and counts items by memcached's item size, since
// the transcripts are memcached's (`me` prints an item's size and class).
func startTestDaemon(t *testing.T) string {
	t.Helper()
	_, addr := startInProcess(t, func(c *Config) { c.Store.MemcachedItemSizes = true })
	return addr
}

// FuzzMeta drives a connection with arbitrary input, meta commands mixed
// with classic ones. The daemon must never panic (a recovered panic counts
// in srv.panics) nor block on input that has ended.
func FuzzMeta(f *testing.F) {
	for _, seed := range []string{
		"mg foo v\r\n",
		"ms foo 2 T0 F5 c\r\nhi\r\nmg foo v f t c s k Oabc\r\n",
		"md foo I T30\r\nmg foo v c\r\nmg foo v\r\n",
		"ma c N0 J7 v\r\nma c MD D10 v q\r\nmn\r\n",
		"ms Zm9v 2 b\r\nhi\r\nmg foo k\r\nme Zm9v b\r\n",
		"ms big 600000\r\n",
	} {
		f.Add([]byte(seed))
	}
	cfg := DefaultConfig()
	cfg.Store.MemoryLimit = 4 << 20
	cfg.Store.ItemSizeMax = 1 << 20
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.store.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newConn(srv, discardRW{bytes.NewReader(data)})
		err := c.serve()
		if n := srv.panics.Load(); n != 0 {
			t.Fatalf("connection panicked on %q: %v", data, err)
		}
	})
}

// TestMetaCmdStat checks cmd_meta against memcached 1.6.18, which counts
// only me commands that got past their argument checks.
func TestMetaCmdStat(t *testing.T) {
	const script = "ms a 1\r\nx\r\nme a\r\nme nothere\r\nme\r\nmg a v\r\nmn\r\nstats\r\n"
	statOf := func(addr string) string {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write([]byte(script)); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(nc)
		var found string
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("reading stats: %v", err)
			}
			if strings.HasPrefix(line, "STAT cmd_meta ") {
				found = strings.TrimSpace(line)
			}
			if line == "END\r\n" {
				return found
			}
		}
	}
	if got := statOf(startTestDaemon(t)); got != "STAT cmd_meta 2" {
		t.Errorf("cached: %q, want STAT cmd_meta 2", got)
	}
	if got := statOf(startMemcached(t).addr); got != "STAT cmd_meta 2" {
		t.Errorf("memcached: %q, want STAT cmd_meta 2", got)
	}
}

// TestMetaRecacheTokenOnce races readers of an invalidated item: exactly
// one of them may win the recache token (W); the rest are told Z.
func TestMetaRecacheTokenOnce(t *testing.T) {
	srv, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.store.Close() })
	setup := newConn(srv, discardRW{strings.NewReader("ms k 1\r\nx\r\nmd k I\r\n")})
	setup.serve()

	const readers = 16
	outs := make([]*bytes.Buffer, readers)
	done := make(chan struct{})
	for i := range readers {
		outs[i] = new(bytes.Buffer)
		rw := struct {
			io.Reader
			io.Writer
		}{strings.NewReader("mg k v\r\n"), outs[i]}
		go func() {
			newConn(srv, rw).serve()
			done <- struct{}{}
		}()
	}
	for range readers {
		<-done
	}
	wins := 0
	for _, out := range outs {
		switch out.String() {
		case "VA 1 X W\r\nx\r\n":
			wins++
		case "VA 1 Z X\r\nx\r\n":
		default:
			t.Errorf("unexpected reply %q", out.String())
		}
	}
	if wins != 1 {
		t.Errorf("%d readers won the recache token, want exactly 1", wins)
	}
}

func BenchmarkMetaGetHit(b *testing.B) {
	benchBatch(b, "ms k 100\r\n"+value100+"\r\n", "mg k v f c\r\n")
}

func BenchmarkMetaSet(b *testing.B) {
	benchBatch(b, "", "ms k 100 T0 F1\r\n"+value100+"\r\n")
}
