package cached

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAuthFile(t *testing.T) {
	long := "u:" + strings.Repeat("p", 300) + "\nlate:entry\n"
	nine := ""
	for i := range 9 {
		nine += "user" + string(rune('a'+i)) + ":pw\n"
	}
	tests := []struct {
		name, data string
		want       []string // user=pass
		truncated  bool
		err        error
	}{
		{"plain", "alice:secret\nbob:pw\n", []string{"alice=secret", "bob=pw"}, false, nil},
		{"crlf", "alice:secret\r\nbob:pw\r\n", []string{"alice=secret", "bob=pw"}, false, nil},
		{"colon in password", "bob:pa:ss\n", []string{"bob=pa:ss"}, false, nil},
		{"no final newline", "alice:secret", []string{"alice=secret"}, false, nil},
		{"empty file", "", nil, false, nil},
		{"empty password", "alice:\n", []string{"alice="}, false, nil},
		{"no colon", "alice\n", nil, false, ErrAuthFileMalformed},
		{"empty line", "alice:secret\n\nbob:pw\n", nil, false, ErrAuthFileMalformed},
		{"trailing empty line", "alice:secret\n\n", nil, false, ErrAuthFileMalformed},
		{"NUL in user", "al\x00ice:secret\n", nil, false, ErrAuthFileMalformed},
		{"NUL ends the file", "alice:sec\x00ret\nbob:pw\n", []string{"alice=sec"}, false, nil},
		{"line of 255 bytes ends the file", long, []string{"u=" + strings.Repeat("p", 253)}, false, nil},
		{"eight entries at most", nine, []string{"usera=pw", "userb=pw", "userc=pw", "userd=pw", "usere=pw", "userf=pw", "userg=pw", "userh=pw"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseAuthFile([]byte(tt.data))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			var got []string
			for _, e := range f.entries {
				got = append(got, string(e.user)+"="+string(e.pass))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") || f.truncated != tt.truncated {
				t.Errorf("entries %q truncated %v, want %q %v", got, f.truncated, tt.want, tt.truncated)
			}
		})
	}
}

func TestAuthFileCheck(t *testing.T) {
	f, err := parseAuthFile([]byte("alice:secret\nbob:pa:ss\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "secret", true}, {"bob", "pa:ss", true}, {"alice", "secre", false},
		{"alice", "secrets", false}, {"ALICE", "secret", false}, {"bob", "secret", false}, {"", "", false},
	} {
		if got := f.check([]byte(tt.user), []byte(tt.pass)); got != tt.ok {
			t.Errorf("check(%q, %q) = %v, want %v", tt.user, tt.pass, got, tt.ok)
		}
	}
}

func TestLoadAuthFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("nocolon\n"), 0o600)
	if _, err := loadAuthFile(bad); err == nil || !strings.Contains(err.Error(), "Authfile ["+bad+"] has a malformed entry. Should be 'user:password'") {
		t.Errorf("malformed file: %v", err)
	}
	if _, err := loadAuthFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "Could not open authfile") {
		t.Errorf("missing file: %v", err)
	}
}

// TestCheckSASL follows memcached's sasl_pwdb rules: the first line for
// the user decides, and the password must stop at ':', CR, LF or the end.
func TestCheckSASL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pwdb")
	os.WriteFile(path, []byte("alice:secret\nbob:pw:extra\ncarol:a:b\nalice:second\r\ndave:crlf\r\neve:last"), 0o600)
	a := &authState{pwdb: path}
	for _, tt := range []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "secret", true}, {"alice", "second", false}, {"alice", "secre", false},
		{"bob", "pw", true}, {"bob", "pw:extra", true}, {"carol", "a", true}, {"carol", "a:b", true},
		{"dave", "crlf", true}, {"eve", "last", true}, {"eve", "las", false}, {"mallory", "x", false},
		{"alice", strings.Repeat("x", 250), false},
	} {
		if got := a.checkSASL([]byte(tt.user), []byte(tt.pass)); got != tt.ok {
			t.Errorf("checkSASL(%q, %q) = %v, want %v", tt.user, tt.pass, got, tt.ok)
		}
	}
	a.pwdb = filepath.Join(t.TempDir(), "missing")
	if a.checkSASL([]byte("alice"), []byte("secret")) {
		t.Error("a missing password file authenticated someone")
	}
}
