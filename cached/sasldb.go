package cached

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cachectl/cachectl/cached/protocol"
)

// Cyrus SASL's password check, for -S without MEMCACHED_SASL_PWDB. That
// is how memcached is usually built and run: Cyrus SASL reads its
// memcached.conf, found through SASL_CONF_PATH or else in /etc/sasl or
// /etc/sasl2, and checks a PLAIN password against the sasldb it names,
// as saslpasswd2 wrote it. The daemon reads the same files, so an
// existing setup carries over unchanged:
//   - the mechanisms offered are mech_list's PLAIN and CRAM-MD5, in its
//     order (both when it is not set); pwcheck_method must include
//     auxprop and auxprop_plugin, if set, sasldb, the only store read;
//   - the sasldb (sasldb_path, else /etc/sasldb2) is a Berkeley DB hash
//     file, re-read at every authentication as Cyrus opens it at every
//     lookup, so saslpasswd2's changes count at once and a database
//     created after the daemon started is found;
//   - the authentication id loses surrounding whitespace and splits at
//     its first '@' into user and realm; without one the realm is the
//     host name, memcached's user realm; the password is the user's
//     userPassword.

const (
	saslConfName      = "memcached.conf"
	saslDefaultSASLDB = "/etc/sasldb2"
)

// saslConfDirs are where memcached looks for memcached.conf when
// SASL_CONF_PATH is not set.
var saslConfDirs = []string{"/etc/sasl", "/etc/sasl2"}

// saslMechs are the mechanisms served, in the order Cyrus SASL lists
// them when mech_list does not say.
var saslMechs = []string{protocol.MechCRAMMD5, protocol.MechPLAIN}

// cyrusSASL is the part of a Cyrus SASL setup the daemon uses.
type cyrusSASL struct {
	conf     string   // the memcached.conf read; "" when none was found
	sasldb   string   // sasldb_path
	mechs    []string // mech_list's mechanisms that are served, in its order
	hostname string   // the default realm
}

// loadCyrusSASL finds and reads memcached.conf as memcached 1.6.18 and
// Cyrus SASL do. confPath is SASL_CONF_PATH: directories, colon
// separated, searched for memcached.conf.
func loadCyrusSASL(confPath string) (*cyrusSASL, error) {
	if confPath == "" {
		confPath = defaultSASLConfPath()
		if confPath == "" {
			return nil, fmt.Errorf("Failed to locate a config path: memcached.conf is in none of %s; set SASL_CONF_PATH to its directory, or name a user:password file in MEMCACHED_SASL_PWDB",
				strings.Join(saslConfDirs, ", "))
		}
	}
	c := &cyrusSASL{sasldb: saslDefaultSASLDB, mechs: saslMechs}
	for _, dir := range strings.Split(confPath, ":") {
		if dir == "" {
			continue
		}
		path := filepath.Join(dir, saslConfName)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the SASL configuration: %w", err)
		}
		if err := c.parseConf(data); err != nil {
			return nil, fmt.Errorf("SASL configuration %s: %w", path, err)
		}
		c.conf = path
		break
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("the host name, SASL's default realm: %w", err)
	}
	c.hostname = host
	return c, nil
}

// defaultSASLConfPath is memcached's search when SASL_CONF_PATH is not
// set: the first of /etc/sasl and /etc/sasl2 that holds memcached.conf,
// or a directory of that name holding one.
func defaultSASLConfPath() string {
	for _, dir := range saslConfDirs {
		conf := filepath.Join(dir, saslConfName)
		if _, err := os.Stat(filepath.Join(conf, saslConfName)); err == nil {
			return conf
		}
		if _, err := os.Stat(conf); err == nil {
			return dir
		}
	}
	return ""
}

// parseConf reads Cyrus SASL's "option: value" lines with its rules:
// '#' starts a comment line, option names are case blind, a line without
// a colon or without a value makes the whole file an error.
func (c *cyrusSASL) parseConf(data []byte) error {
	opts := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t\v\f\r")
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		val = strings.TrimSpace(val)
		if !ok || key == "" || strings.ContainsFunc(key, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			return fmt.Errorf("line %d: want \"option: value\", got %q", n, line)
		}
		if val == "" {
			return fmt.Errorf("line %d: option %s has no value", n, key)
		}
		opts[strings.ToLower(key)] = val
	}
	if err := sc.Err(); err != nil {
		return err
	}
	// Lists are separated by whitespace only: Cyrus reads "plain,cram-md5"
	// as one unknown mechanism.
	fields := func(v string) []string { return strings.Fields(strings.ToLower(v)) }
	if v, ok := opts["mech_list"]; ok {
		c.mechs = nil
		for _, m := range fields(v) {
			if m := strings.ToUpper(m); slices.Contains(saslMechs, m) && !slices.Contains(c.mechs, m) {
				c.mechs = append(c.mechs, m)
			}
		}
		if len(c.mechs) == 0 {
			return fmt.Errorf("mech_list %q names no mechanism cachectl serves (%s, separated by spaces): add one",
				v, strings.Join(saslMechs, " or "))
		}
	}
	if v, ok := opts["pwcheck_method"]; ok && !slices.Contains(fields(v), "auxprop") {
		return fmt.Errorf("pwcheck_method %q: cachectl checks passwords only against a sasldb (auxprop); use auxprop, or a user:password file in MEMCACHED_SASL_PWDB", v)
	}
	if v, ok := opts["auxprop_plugin"]; ok && !slices.Contains(fields(v), "sasldb") {
		return fmt.Errorf("auxprop_plugin %q: cachectl reads only a sasldb; use sasldb, or a user:password file in MEMCACHED_SASL_PWDB", v)
	}
	if v, ok := opts["sasldb_path"]; ok {
		c.sasldb = v
	}
	return nil
}

// readUsers reads the sasldb. A database not there yet holds no users.
func (c *cyrusSASL) readUsers() (map[string][]byte, error) {
	data, err := os.ReadFile(c.sasldb)
	if err != nil {
		return nil, fmt.Errorf("reading the sasldb: %w", err)
	}
	users, err := readBDBHash(data)
	if err != nil {
		return nil, fmt.Errorf("sasldb %s: %w (cachectl reads the Berkeley DB hash files saslpasswd2 writes on Debian)", c.sasldb, err)
	}
	return users, nil
}

// secret returns the password stored for an authentication id (already
// stripped of surrounding whitespace).
func (c *cyrusSASL) secret(user []byte) ([]byte, bool) {
	users, err := c.readUsers()
	if err != nil {
		return nil, false
	}
	name, realm, found := bytes.Cut(user, []byte{'@'})
	if !found {
		realm = []byte(c.hostname)
	}
	stored, ok := users[string(name)+"\x00"+string(realm)+"\x00userPassword"]
	return stored, ok && len(name) > 0
}

// check reports whether pass is user's password.
func (c *cyrusSASL) check(user, pass []byte) bool {
	stored, ok := c.secret(user)
	return ok && subtle.ConstantTimeCompare(stored, pass) == 1
}
