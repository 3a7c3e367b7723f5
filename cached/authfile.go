package cached

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
)

// The password file of ASCII auth (-Y), read with memcached 1.6.18's
// authfile.c rules, so a file that works there works here and a file it
// refuses is refused:
//   - one "user:password" entry per line; the password runs to the end
//     of the line (a CR or LF ends it) and may hold further colons;
//   - a line is read 255 bytes at a time, and a line that long ends the
//     file: entries after it are not read;
//   - a line without a colon, an empty line included, makes the whole
//     file malformed;
//   - at most 8 entries are read ("not supposed to be a huge database");
//     the rest are ignored.
//
// One deliberate difference: memcached reads a one-line file with no
// final newline one byte short and so loses the password's last
// character; here the whole line counts.

const (
	authMaxEntries = 8   // authfile.c's MAX_ENTRIES
	authMaxLine    = 255 // fgets into MAX_ENTRY_LEN (256) bytes
)

// ErrAuthFileMalformed is a password file with a line that is not
// "user:password". The message is memcached's.
var ErrAuthFileMalformed = errors.New("has a malformed entry. Should be 'user:password'")

// authEntry is one user of the password file.
type authEntry struct{ user, pass []byte }

// authFile is a loaded password file.
type authFile struct {
	path    string
	entries []authEntry
	// truncated says the file goes on after authMaxEntries entries,
	// which were not read, so the daemon can say so.
	truncated bool
}

// loadAuthFile reads a password file.
func loadAuthFile(path string) (*authFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("Could not open authfile [%s] for reading: %w", path, err)
	}
	f, err := parseAuthFile(data)
	if err != nil {
		return nil, fmt.Errorf("Authfile [%s] %w", path, err)
	}
	f.path = path
	return f, nil
}

// parseAuthFile applies authfile.c's reading rules to a file's bytes.
func parseAuthFile(data []byte) (*authFile, error) {
	f := &authFile{}
	for off := 0; off < len(data); {
		chunk := authChunk(data, off)
		off += len(chunk)
		user, rest, found := bytes.Cut(chunk, []byte{':'})
		if !found || bytes.IndexByte(user, 0) >= 0 {
			return nil, ErrAuthFileMalformed
		}
		end := bytes.IndexAny(rest, "\r\n\x00")
		lastLine := end < 0 || rest[end] == 0
		if end < 0 {
			end = len(rest)
		}
		f.entries = append(f.entries, authEntry{user: user, pass: rest[:end]})
		if lastLine {
			break
		}
		if len(f.entries) == authMaxEntries {
			f.truncated = off < len(data)
			break
		}
	}
	return f, nil
}

// check reports whether user and pass match an entry. The comparison
// takes the same time wherever the bytes differ, as memcached's
// safe_memcmp does, so timing does not reveal a password's prefix.
func (f *authFile) check(user, pass []byte) bool {
	ok := 0
	for _, e := range f.entries {
		u := subtle.ConstantTimeCompare(user, e.user)
		p := subtle.ConstantTimeCompare(pass, e.pass)
		ok |= u & p
	}
	return ok == 1
}
