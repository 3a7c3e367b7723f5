package cached

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// saslpasswd adds user (name@realm, or name in the host's realm) with
// password to the sasldb at db, with Cyrus SASL's own tool. The host's
// realm is named: memcached's is gethostname's, where saslpasswd2's own
// default may be a longer FQDN.
func saslpasswd(t *testing.T, db, user, password string) {
	t.Helper()
	nstest.RequireCommands(t, "saslpasswd2")
	name, realm, ok := strings.Cut(user, "@")
	if !ok {
		host, err := os.Hostname()
		if err != nil {
			t.Fatal(err)
		}
		realm = host
	}
	args := []string{"-p", "-a", "memcached", "-c", "-f", db, "-u", realm, name}
	cmd := exec.Command("saslpasswd2", args...)
	cmd.Stdin = strings.NewReader(password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("saslpasswd2 %s: %v\n%s", user, err, out)
	}
}

// Every user saslpasswd2 wrote is read back: long names spread them over
// several bucket pages, and a long password goes to overflow pages.
func TestReadSasldbFromSaslpasswd2(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "sasldb2")
	want := map[string]string{}
	for i := range 40 {
		user := fmt.Sprintf("%s%02d@realm%d", strings.Repeat("u", 250), i, i%3)
		want[user] = fmt.Sprintf("pw-%d", i)
	}
	// saslpasswd2 keeps at most 2,048 bytes of a password.
	want["long@realm0"] = strings.Repeat("0123456789", 200)
	for user, pw := range want {
		saslpasswd(t, db, user, pw)
	}
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := readBDBHash(data)
	if err != nil {
		t.Fatalf("reading the sasldb saslpasswd2 wrote: %v", err)
	}
	ps := int(binary.LittleEndian.Uint32(data[20:]))
	kinds := map[byte]int{}
	for p := 1; (p+1)*ps <= len(data); p++ {
		kinds[data[p*ps+25]]++
	}
	if kinds[bdbPageHash] < 4 || kinds[bdbPageOver] == 0 {
		t.Errorf("the database has %d bucket pages and %d overflow pages; the test means several and one at least",
			kinds[bdbPageHash], kinds[bdbPageOver])
	}
	if len(pairs) != len(want) {
		t.Errorf("%d pairs read, %d users written", len(pairs), len(want))
	}
	c := &cyrusSASL{sasldb: db, hostname: "unused"}
	for user, pw := range want {
		name, realm, _ := strings.Cut(user, "@")
		if got := string(pairs[name+"\x00"+realm+"\x00userPassword"]); got != pw {
			t.Errorf("%s: password %.20q..., want %.20q...", user, got, pw)
		}
		if !c.check([]byte(user), []byte(pw)) || c.check([]byte(user), []byte(pw+"x")) {
			t.Errorf("%s: check does not tell its password from another", user)
		}
	}
}

// A file that is not a readable Berkeley DB hash is refused with the
// reason, never half read.
func TestReadBDBHashRefuses(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "sasldb2")
	saslpasswd(t, db, "alice@r", "secret")
	good, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a Berkeley DB hash"},
		{"text", []byte(strings.Repeat("alice:secret\n", 100)), "not a Berkeley DB hash"},
		{"LMDB", edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[12:], 0)
			binary.LittleEndian.PutUint32(b[16:], 0xBEEFC0DE)
			return b
		}), "not a Berkeley DB hash"},
		{"B-tree", edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 0x053162); return b }), "not a Berkeley DB hash"},
		{"truncated", good[:len(good)-1], "file is"},
		{"encrypted", edit(func(b []byte) []byte { b[24] = 1; return b }), "encrypted"},
		{"checksums", edit(func(b []byte) []byte { b[26] = 1; return b }), "checksums"},
		{"old version", edit(func(b []byte) []byte { b[16] = 5; return b }), "version 5"},
		{"odd page size", edit(func(b []byte) []byte { b[20] = 1; return b }), "page size"},
	} {
		if _, err := readBDBHash(tt.data); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
	// An entry whose offset points outside its page.
	bad := edit(func(b []byte) []byte {
		ps := int(binary.LittleEndian.Uint32(b[20:]))
		for p := 1; p*ps < len(b); p++ {
			if page := b[p*ps:]; page[25] == bdbPageHash && binary.LittleEndian.Uint16(page[20:]) > 0 {
				binary.LittleEndian.PutUint16(page[bdbPageHeader:], 3)
			}
		}
		return b
	})
	if _, err := readBDBHash(bad); err == nil || !strings.Contains(err.Error(), "outside the page") {
		t.Errorf("a corrupt entry: %v", err)
	}
}

func TestCyrusSASLConf(t *testing.T) {
	for _, tt := range []struct {
		conf, sasldb, mechs, err string
	}{
		{"mech_list: plain cram-md5\nsasldb_path: /tmp/x.db\n", "/tmp/x.db", "PLAIN CRAM-MD5", ""},
		{"# comment\n\n  MECH_LIST:   PLAIN  \r\n", saslDefaultSASLDB, "PLAIN", ""},
		{"sasldb_path: /a b/c \n", "/a b/c", "CRAM-MD5 PLAIN", ""},
		{"pwcheck_method: auxprop\nauxprop_plugin: sasldb\n", saslDefaultSASLDB, "CRAM-MD5 PLAIN", ""},
		{"mech_list: login cram-md5 digest-md5 cram-md5\n", saslDefaultSASLDB, "CRAM-MD5", ""},
		{"mech_list: login digest-md5\n", "", "", "names no mechanism"},
		{"mech_list: plain,cram-md5\n", "", "", "names no mechanism"},
		{"pwcheck_method: saslauthd\n", "", "", "pwcheck_method"},
		{"auxprop_plugin: sql\n", "", "", "auxprop_plugin"},
		{"mech_list plain\n", "", "", "line 1"},
		{"a: b\nmech_list :plain\n", "", "", "line 2"},
		{"sasldb_path:\n", "", "", "no value"},
	} {
		c := &cyrusSASL{sasldb: saslDefaultSASLDB, mechs: saslMechs}
		err := c.parseConf([]byte(tt.conf))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.conf, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: %v, want an error saying %q", tt.conf, err, tt.err)
		case tt.err == "" && (c.sasldb != tt.sasldb || strings.Join(c.mechs, " ") != tt.mechs):
			t.Errorf("%q: sasldb %q, mechanisms %q; want %q, %q", tt.conf, c.sasldb, c.mechs, tt.sasldb, tt.mechs)
		}
	}
}

// SASL_CONF_PATH is a list of directories; the first holding
// memcached.conf is used, and none at all leaves Cyrus's defaults.
func TestCyrusSASLConfPath(t *testing.T) {
	empty, full := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(full, saslConfName), []byte("sasldb_path: /x/db\n"), 0o600)
	c, err := loadCyrusSASL(empty + ":" + full)
	if err != nil || c.sasldb != "/x/db" || c.conf != filepath.Join(full, saslConfName) {
		t.Errorf("found %+v, %v", c, err)
	}
	c, err = loadCyrusSASL(empty)
	if err != nil || c.sasldb != saslDefaultSASLDB || c.conf != "" {
		t.Errorf("no memcached.conf: %+v, %v", c, err)
	}
	os.WriteFile(filepath.Join(empty, saslConfName), []byte("mech_list: login\n"), 0o600)
	if _, err := loadCyrusSASL(empty); err == nil || !strings.Contains(err.Error(), filepath.Join(empty, saslConfName)) {
		t.Errorf("a refused memcached.conf: %v, want an error naming it", err)
	}
}

// -S starts before its sasldb exists, as memcached does, and says so;
// once saslpasswd2 writes it, the next authentication reads it. A sasldb
// that exists but cannot be read stops the start, with the reason.
func TestSasldbMissingAtStart(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sasldb2")
	os.WriteFile(filepath.Join(dir, saslConfName), []byte("sasldb_path: "+db+"\n"), 0o600)
	var log strings.Builder
	cfg := DefaultConfig()
	cfg.SASL, cfg.SASLConfPath = true, dir
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("-S with a sasldb not made yet: %v; memcached starts", err)
	}
	defer srv.store.Close()
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "sasldb="+db) {
		t.Errorf("no warning naming the missing sasldb:\n%s", log.String())
	}
	if srv.auth.cyrus.check([]byte("alice"), []byte("secret")) {
		t.Error("a user authenticated against a sasldb that does not exist")
	}
	saslpasswd(t, db, "alice", "secret")
	if !srv.auth.cyrus.check([]byte("alice"), []byte("secret")) {
		t.Error("the sasldb saslpasswd2 wrote after start is not read")
	}
	os.WriteFile(db, []byte("alice:secret\n"), 0o600)
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "not a Berkeley DB hash") {
		t.Errorf("-S with a sasldb that is a text file: %v", err)
	}
}
