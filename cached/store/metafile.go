package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The metadata file (PATH.meta beside the memory file) is memcached's
// restart format: a tag line "T<name>", then "K<key> <value>" lines, where
// neither key nor value holds a space. cachectl writes its own tag, so
// neither daemon takes the other's file for its own (their item memory is
// laid out differently), and ends the file with a CRC-32C of every byte
// before that line, which memcached leaves as a TODO: a file cut short or
// damaged is refused instead of trusted.
const (
	metaTag      = "cachectl"
	metaSuffix   = ".meta"
	checksumKey  = "checksum"
	maxMetaBytes = 64 << 20 // far above the page lists of a 32 GiB arena
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// metaLine is one "K<key> <value>" line.
type metaLine struct{ key, val string }

// metaWriter builds a metadata file.
type metaWriter struct{ buf bytes.Buffer }

func (w *metaWriter) tag(name string) { fmt.Fprintf(&w.buf, "T%s\n", name) }

func (w *metaWriter) kv(key string, val any) { fmt.Fprintf(&w.buf, "K%s %v\n", key, val) }

// finish appends the checksum line and returns the file's bytes.
func (w *metaWriter) finish() []byte {
	w.kv(checksumKey, fmt.Sprintf("%08x", crc32.Checksum(w.buf.Bytes(), castagnoli)))
	return w.buf.Bytes()
}

// writeMetaFile replaces path with data atomically: a crash while saving
// leaves no metadata, so the next start is cold rather than half-warm.
func writeMetaFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// errNoMeta is a missing metadata file: an ordinary cold start.
var errNoMeta = errors.New("no metadata file")

// readMetaFile reads the metadata file. The caller removes it once it has
// parsed it, as memcached does once it has read it: whatever the outcome,
// this run's memory will differ from what the file describes, so a later
// stop without saving (or a crash) must not find it. A file that cannot be
// parsed stays, for the operator to look at.
func readMetaFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoMeta
	}
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxMetaBytes+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxMetaBytes {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxMetaBytes>>20)
	}
	return data, nil
}

// parseMeta splits a metadata file into its lines, refusing it as
// memcached's restart_check would, with its messages. memcached aborts on
// a file it cannot read; the caller refuses to start.
func parseMeta(data []byte, log *[]string) ([]metaLine, bool) {
	text := string(data)
	first, rest, whole := strings.Cut(text, "\n")
	switch {
	case len(text) == 0:
		*log = append(*log, "[restart] Failed to read a tag from metadata file")
		return nil, false
	case !whole || !strings.HasPrefix(first, "T"):
		if !strings.HasPrefix(first, "K") {
			*log = append(*log, fmt.Sprintf("[restart] invalid metadata line: %q", first))
		}
		*log = append(*log, "[restart] corrupt metadata file")
		return nil, false
	case first[1:] != metaTag:
		*log = append(*log, fmt.Sprintf("[restart] internal handler for metadata tag not found: %s:", first[1:]),
			"[restart] corrupt metadata file")
		return nil, false
	}
	var lines []metaLine
	for off := len(first) + 1; len(rest) > 0; {
		line, next, whole := strings.Cut(rest, "\n")
		if !whole {
			break // cut short: the checksum line is missing
		}
		key, val, ok := strings.Cut(line, " ")
		if !ok || len(key) < 2 || key[0] != 'K' {
			*log = append(*log, fmt.Sprintf("[restart] invalid metadata line: %q", line), "[restart] corrupt metadata file")
			return nil, false
		}
		if key[1:] == checksumKey {
			if sum := fmt.Sprintf("%08x", crc32.Checksum(data[:off], castagnoli)); val != sum {
				*log = append(*log, fmt.Sprintf("[restart] metadata checksum mismatch: file says %s, contents sum to %s", val, sum))
				return nil, false
			}
			return lines, true
		}
		lines = append(lines, metaLine{key: key[1:], val: val})
		off += len(line) + 1
		rest = next
	}
	*log = append(*log, "[restart] missing some metadata lines")
	return nil, false
}

// parseUints reads a comma-separated list of numbers ("" is none).
func parseUints(val string) ([]uint32, error) {
	if val == "" || val == "-" {
		return nil, nil
	}
	parts := strings.Split(val, ",")
	out := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, err
		}
		out[i] = uint32(n)
	}
	return out, nil
}

// formatUints writes numbers as parseUints reads them; "-" stands for none,
// since a value cannot be empty.
func formatUints(ns []uint32) string {
	if len(ns) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, n := range ns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}
