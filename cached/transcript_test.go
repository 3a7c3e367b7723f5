package cached

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Transcript tests: each file under testdata/transcripts is a conversation
// with the server, run against stock memcached 1.6.18 AND against
// `cachectl serve`; both must answer exactly as written. The format:
//
//	# comment                (blank lines are ignored too)
//	@args -I 2m              server flags, given to both servers
//	> set k 0 0 1            send the text plus CRLF
//	>| abc\r\n               send the text exactly, no CRLF added
//	< STORED                 expect this line, CRLF-terminated
//	<~ VALUE k 0 1 \d+       expect a line matching the regexp (anchored)
//	<~lf key=k exp=-1 .*     the same for a line ending in a bare LF (metadump)
//	<* STAT \S+ .*           expect zero or more lines matching the regexp
//	<| v\r\n                 expect exactly these bytes
//	<closed                  expect the server to close the connection
//
// In text, \r \n \t \\ \0 and \xNN are escapes, and {{N*text}} repeats
// text N times (long keys, long lines).

type step struct {
	line int
	op   string // ">", ">|", "<", "<~", "<~lf", "<*", "<|", "<closed"
	data []byte
	re   *regexp.Regexp
	src  string
}

type transcript struct {
	name  string
	args  []string
	steps []step
}

var repeatRE = regexp.MustCompile(`\{\{(\d+)\*(.*?)\}\}`)

// expand applies repetitions, then escapes.
func expand(s string) ([]byte, error) {
	var err error
	s = repeatRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := repeatRE.FindStringSubmatch(m)
		n, e := strconv.Atoi(sub[1])
		if e != nil || n > 1<<24 {
			err = fmt.Errorf("bad repetition %q", m)
			return ""
		}
		return strings.Repeat(sub[2], n)
	})
	if err != nil {
		return nil, err
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			out = append(out, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case '0':
			out = append(out, 0)
		case '\\':
			out = append(out, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("short \\x escape in %q", s)
			}
			v, e := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if e != nil {
				return nil, fmt.Errorf("bad \\x escape in %q", s)
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c in %q", s[i], s)
		}
	}
	return out, nil
}

func parseTranscript(name string, src []byte) (*transcript, error) {
	tr := &transcript{name: name}
	for i, raw := range strings.Split(string(src), "\n") {
		ln := i + 1
		text := strings.TrimSuffix(raw, "\r")
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(text, "@args "); ok {
			tr.args = append(tr.args, strings.Fields(rest)...)
			continue
		}
		op, arg, _ := strings.Cut(text, " ")
		st := step{line: ln, op: op, src: text}
		var err error
		switch op {
		case ">":
			st.data, err = expand(arg)
			st.data = append(st.data, '\r', '\n')
		case ">|", "<|":
			st.data, err = expand(arg)
		case "<":
			st.data, err = expand(arg)
		case "<~", "<~lf", "<*":
			st.re, err = regexp.Compile("^(?:" + arg + ")$")
		case "<closed":
		default:
			err = fmt.Errorf("unknown step %q", op)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, ln, err)
		}
		tr.steps = append(tr.steps, st)
	}
	return tr, nil
}

// run plays a transcript over c and returns the first divergence.
func (tr *transcript) run(c net.Conn) error {
	br := bufio.NewReaderSize(c, 64<<10)
	var pending []byte // a line read by <* that did not match
	readLine := func() ([]byte, error) {
		if pending != nil {
			l := pending
			pending = nil
			return l, nil
		}
		return br.ReadBytes('\n')
	}
	for _, st := range tr.steps {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s: %s", tr.name, st.line, st.src, fmt.Sprintf(format, args...))
		}
		switch st.op {
		case ">", ">|":
			if _, err := c.Write(st.data); err != nil {
				return fail("send: %v", err)
			}
		case "<":
			got, err := readLine()
			want := append(bytes.Clone(st.data), '\r', '\n')
			if err != nil || !bytes.Equal(got, want) {
				return fail("got %q (err %v), want %q", got, err, want)
			}
		case "<~":
			got, err := readLine()
			if err != nil || !bytes.HasSuffix(got, []byte("\r\n")) || !st.re.Match(got[:len(got)-2]) {
				return fail("got %q (err %v), want a line matching %s", got, err, st.re)
			}
		case "<~lf":
			got, err := readLine()
			if err != nil || bytes.HasSuffix(got, []byte("\r\n")) || !st.re.Match(got[:len(got)-1]) {
				return fail("got %q (err %v), want an LF-terminated line matching %s", got, err, st.re)
			}
		case "<*":
			for n := 0; ; n++ {
				got, err := readLine()
				if err != nil {
					return fail("got %q after %d matching lines: %v", got, n, err)
				}
				if !bytes.HasSuffix(got, []byte("\r\n")) || !st.re.Match(got[:len(got)-2]) {
					pending = got
					break
				}
			}
		case "<|":
			got := make([]byte, len(st.data))
			var n int
			var err error
			if pending != nil {
				n = copy(got, pending)
				pending = pending[n:]
				if len(pending) == 0 {
					pending = nil
				}
			}
			if n < len(got) {
				var m int
				m, err = io.ReadFull(br, got[n:])
				n += m
			}
			if err != nil || !bytes.Equal(got[:n], st.data) {
				return fail("got %q (err %v), want %q", got[:n], err, st.data)
			}
		case "<closed":
			var got []byte
			if pending != nil {
				got = pending
			}
			rest, err := io.ReadAll(br)
			got = append(got, rest...)
			if len(got) > 0 || (err != nil && !isReset(err)) {
				return fail("want the connection closed, got %q (err %v)", got, err)
			}
		}
	}
	// Nothing may follow the last expected reply: a stray byte is exactly
	// what desynchronises a noreply client.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if pending != nil {
		return fmt.Errorf("%s: unexpected trailing reply %q", tr.name, pending)
	}
	if extra, _ := br.Peek(1); len(extra) > 0 {
		line, _ := br.ReadString('\n')
		return fmt.Errorf("%s: unexpected trailing reply %q", tr.name, line)
	}
	return nil
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

func loadTranscripts(t *testing.T) []*transcript {
	t.Helper()
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts under testdata/transcripts: %v", err)
	}
	var out []*transcript
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := parseTranscript(filepath.Base(f), src)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tr)
	}
	return out
}

// TestTranscripts runs every transcript against memcached 1.6.18 and
// against cachectl, each on a fresh server, so a transcript that passes
// here states memcached's behaviour and ours at once.
func TestTranscripts(t *testing.T) {
	for _, tr := range loadTranscripts(t) {
		t.Run(strings.TrimSuffix(tr.name, ".txt"), func(t *testing.T) {
			t.Parallel()
			for _, srv := range []struct {
				name  string
				start func(testing.TB, ...string) *daemon
			}{{"memcached", startMemcached}, {"cachectl", startCachectlSized}} {
				d := srv.start(t, tr.args...)
				if err := tr.run(d.dial(t)); err != nil {
					t.Errorf("%s: %v", srv.name, err)
				}
			}
		})
	}
}
