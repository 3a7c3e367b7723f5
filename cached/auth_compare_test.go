package cached

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachectl/cachectl/cached/protocol"
	"github.com/cachectl/cachectl/netinfo/nstest"
)

// Authentication compared with stock memcached 1.6.18: the same requests,
// one write at a time, must get the same bytes back from both.

// startAuthPair starts memcached (with env added to its environment) and
// this daemon with the same auth flags. Neither answers a probe before a
// client authenticates, so readiness is a successful connect.
func startAuthPair(t *testing.T, mcEnv, ourEnv []string, args ...string) (mc, us string) {
	t.Helper()
	mcPath := memcachedPath(t)
	self := testBinary(t)
	port := strconv.Itoa(freePort(t))
	cmd := exec.Command(mcPath, append([]string{"-U", "0", "-u", "root", "-l", "127.0.0.1", "-p", port}, args...)...)
	cmd.Env = append(os.Environ(), mcEnv...)
	mc = startConnectable(t, "127.0.0.1:"+port, cmd)
	port = strconv.Itoa(freePort(t))
	cmd = exec.Command(self, append([]string{"-l", "127.0.0.1", "-p", port}, args...)...)
	cmd.Env = append(append(os.Environ(), DaemonEnv+"=1"), ourEnv...)
	us = startConnectable(t, "127.0.0.1:"+port, cmd)
	return mc, us
}

// startConnectable runs cmd until the test ends and waits, up to 10s,
// until it accepts connections on addr.
func startConnectable(t *testing.T, addr string, cmd *exec.Cmd) string {
	t.Helper()
	d := &daemon{addr: addr, cmd: cmd, done: make(chan struct{}), log: &daemonLog{}}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(d.stop)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-d.done:
			t.Fatalf("%s exited: %v\n%s", d.cmd.Path, d.err, d.log)
		default:
		}
		if c, err := net.DialTimeout("tcp", d.addr, time.Second); err == nil {
			c.Close()
			return d.addr
		}
	}
	t.Fatalf("%s not accepting on %s after 10s", d.cmd.Path, d.addr)
	return ""
}

// exchange sends each write on one connection, collecting what comes back
// after it; "<EOF>" marks a connection the server closed.
func authExchange(t *testing.T, addr string, writes ...[]byte) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var out bytes.Buffer
	buf := make([]byte, 64<<10)
	for _, w := range writes {
		if _, err := nc.Write(w); err != nil {
			out.WriteString("<write failed>")
			break
		}
		nc.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		for {
			n, err := nc.Read(buf)
			out.Write(buf[:n])
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				return out.String() + "<EOF>"
			}
			if err != nil {
				break
			}
			// Replies come in one burst: a short wait finds the rest.
			nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		}
	}
	return out.String()
}

func TestASCIIAuthLikeMemcached(t *testing.T) {
	file := filepath.Join(t.TempDir(), "auth")
	os.WriteFile(file, []byte("alice:secret\nbob:pa:ss\n"), 0o600)
	mc, us := startAuthPair(t, nil, nil, "-Y", file)
	b := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name   string
		writes [][]byte
		want   string // memcached's answer, checked on both
	}{
		{"commands before auth", [][]byte{b("version\r\n"), b("get k\r\n"), b("quit\r\n")},
			"CLIENT_ERROR unauthenticated\r\nCLIENT_ERROR unauthenticated\r\nCLIENT_ERROR unauthenticated\r\n"},
		{"good password", [][]byte{b("set x 0 0 12\r\nalice secret\r\n"), b("set k 0 0 1\r\nv\r\n"), b("get k\r\n")},
			"STORED\r\nSTORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n"},
		{"auth and commands in one write", [][]byte{b("set x 0 0 12\r\nalice secret\r\nversion\r\n")},
			"STORED\r\nVERSION " + ProtocolVersion + "\r\n"},
		{"colon in password", [][]byte{b("set x 0 0 9\r\nbob pa:ss\r\n")}, "STORED\r\n"},
		{"bad password then retry", [][]byte{b("set x 0 0 11\r\nalice wrong\r\n"), b("version\r\n"), b("set y 1 2 12\r\nalice secret\r\n")},
			"CLIENT_ERROR authentication failure\r\nCLIENT_ERROR unauthenticated\r\nSTORED\r\n"},
		{"noreply is no excuse", [][]byte{b("set x 0 0 12 noreply\r\nalice secret\r\n")}, "STORED\r\n"},
		{"token split across writes", [][]byte{b("set x 0 0 12\r\n"), b("alice "), b("secret\r\n")}, "STORED\r\n"},
		{"bad termination", [][]byte{b("set x 0 0 12\r\nalice secret\n\n")}, "CLIENT_ERROR bad command line termination\r\n"},
		{"one token", [][]byte{b("set x 0 0 5\r\nalice\r\n")}, "CLIENT_ERROR bad authentication token format\r\n"},
		{"NUL ends the token", [][]byte{b("set x 0 0 14\r\nalice\x00x secret\r\n")}, "CLIENT_ERROR bad authentication token format\r\n"},
		{"extra tokens ignored", [][]byte{b("set x 0 0 18\r\nalice secret extra\r\n")}, "STORED\r\n"},
		{"user is case sensitive", [][]byte{b("set x 0 0 12\r\nALICE secret\r\n")}, "CLIENT_ERROR authentication failure\r\n"},
		{"short set line", [][]byte{b("set x 0 0\r\n")}, "CLIENT_ERROR unauthenticated\r\n"},
		{"negative length", [][]byte{b("set x 0 0 -1\r\n")}, "CLIENT_ERROR unauthenticated\r\n"},
		{"binary packet is text here", [][]byte{append([]byte{0x80, 0x0b}, make([]byte, 22)...)}, ""},
		{"junk without newline", [][]byte{bytes.Repeat(b("a"), 3000)}, "<EOF>"},
		{"token larger than the read buffer", [][]byte{b("set x 0 0 16383\r\n"), bytes.Repeat(b("a"), 16385)}, "<EOF>"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, want := authExchange(t, us, tt.writes...), authExchange(t, mc, tt.writes...)
			if got != want {
				t.Errorf("cachectl %q\nmemcached %q", got, want)
			}
			if want != tt.want && !(tt.want == "<EOF>" && strings.HasSuffix(want, "<EOF>")) {
				t.Errorf("memcached answered %q, the test expects %q", want, tt.want)
			}
		})
	}
	// Both count every verdict in auth_cmds and the refusals in auth_errors.
	login := "set x 0 0 12\r\nalice secret\r\n"
	for _, addr := range []string{mc, us} {
		stats := authExchange(t, addr, b(login), b("stats\r\n"))
		if !strings.Contains(stats, "STAT auth_cmds 10\r\n") || !strings.Contains(stats, "STAT auth_errors 2\r\n") {
			t.Errorf("%s: auth counters after the cases above:\n%s", addr, stats)
		}
		settings := authExchange(t, addr, b(login), b("stats settings\r\n"))
		for _, line := range []string{"STAT auth_enabled_ascii " + file + "\r\n", "STAT auth_enabled_sasl no\r\n", "STAT binding_protocol ascii\r\n"} {
			if !strings.Contains(settings, line) {
				t.Errorf("%s: stats settings lacks %q", addr, line)
			}
		}
	}
}

// binReq builds a binary request.
func binReq(op uint8, key, value string) []byte {
	b := make([]byte, 24, 24+len(key)+len(value))
	b[0], b[1] = 0x80, op
	binary.BigEndian.PutUint16(b[2:], uint16(len(key)))
	binary.BigEndian.PutUint32(b[8:], uint32(len(key)+len(value)))
	return append(append(b, key...), value...)
}

// sasldbConfig makes a Cyrus SASL configuration that holds user with
// password: a sasldb and a memcached.conf naming it and mechs. It returns
// the environment a server needs to use it.
func sasldbConfig(t *testing.T, mechs, user, password string) []string {
	t.Helper()
	env, db := saslConf(t, mechs)
	saslpasswd(t, db, user, password)
	return env
}

// saslConf writes a memcached.conf offering mechs from a sasldb not
// made yet, and returns the environment naming it and the sasldb's path.
func saslConf(t *testing.T, mechs string) (env []string, db string) {
	t.Helper()
	dir := t.TempDir()
	db = filepath.Join(dir, "sasldb2")
	conf := "mech_list: " + mechs + "\nsasldb_path: " + db + "\n"
	if err := os.WriteFile(filepath.Join(dir, saslConfName), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"SASL_CONF_PATH=" + dir}, db
}

func TestSASLLikeMemcached(t *testing.T) {
	pwdb := filepath.Join(t.TempDir(), "pwdb")
	os.WriteFile(pwdb, []byte("alice:secret\n"), 0o600)
	mc, us := startAuthPair(t, sasldbConfig(t, "plain", "alice", "secret"), []string{"MEMCACHED_SASL_PWDB=" + pwdb}, "-S")
	good, bad := "\x00alice\x00secret", "\x00alice\x00wrong"
	cases := []struct {
		name   string
		writes [][]byte
	}{
		{"list mechanisms", [][]byte{binReq(0x20, "", "")}},
		{"get before auth hangs up", [][]byte{binReq(0x00, "k", "")}},
		{"quiet get before auth", [][]byte{binReq(0x09, "k", "")}},
		{"noop before auth", [][]byte{binReq(0x0a, "", "")}},
		{"version before auth", [][]byte{binReq(0x0b, "", "")}},
		{"good auth", [][]byte{binReq(0x21, "PLAIN", good), binReq(0x00, "k", "")}},
		{"mechanism is case blind", [][]byte{binReq(0x21, "plain", good)}},
		{"authzid equal to the user", [][]byte{binReq(0x21, "PLAIN", "alice"+good)}},
		{"authzid of someone else", [][]byte{binReq(0x21, "PLAIN", "bob"+good)}},
		{"bad password, connection stays", [][]byte{binReq(0x21, "PLAIN", bad), binReq(0x0b, "", "")}},
		{"unknown user", [][]byte{binReq(0x21, "PLAIN", "\x00bob\x00secret")}},
		{"malformed message", [][]byte{binReq(0x21, "PLAIN", "alicesecret")}},
		{"NUL after password", [][]byte{binReq(0x21, "PLAIN", good+"\x00")}},
		{"unknown mechanism", [][]byte{binReq(0x21, "CRAM-MD5", "")}},
		{"mechanism too long", [][]byte{binReq(0x21, strings.Repeat("P", 33), good), binReq(0x0b, "", "")}},
		{"no mechanism", [][]byte{binReq(0x21, "", "")}},
		{"list with a key", [][]byte{binReq(0x20, "k", "")}},
		{"step without auth", [][]byte{binReq(0x22, "PLAIN", good)}},
		{"empty auth then steps", [][]byte{binReq(0x21, "PLAIN", ""), binReq(0x22, "PLAIN", bad), binReq(0x22, "PLAIN", good), binReq(0x00, "k", "")}},
		{"step after success", [][]byte{binReq(0x21, "PLAIN", good), binReq(0x22, "PLAIN", good), binReq(0x00, "k", "")}},
		{"failed re-auth forgets", [][]byte{binReq(0x21, "PLAIN", good), binReq(0x21, "PLAIN", bad), binReq(0x00, "k", "")}},
		{"listing forgets", [][]byte{binReq(0x21, "PLAIN", good), binReq(0x20, "", ""), binReq(0x00, "k", "")}},
		{"text on a SASL server", [][]byte{[]byte("version\r\n")}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := authExchange(t, us, tt.writes...), authExchange(t, mc, tt.writes...); got != want {
				t.Errorf("cachectl  %q\nmemcached %q", got, want)
			}
		})
	}
	login := binReq(0x21, "PLAIN", good)
	for _, addr := range []string{mc, us} {
		stats := authExchange(t, addr, login, binReq(0x10, "", ""))
		// A binary stat is a packet whose key is the name and value the value.
		if !strings.Contains(stats, "auth_cmds18") || !strings.Contains(stats, "auth_errors10") {
			t.Errorf("%s: binary stats after the cases above lack auth_cmds 18 / auth_errors 10", addr)
		}
	}
}

// TestSASLClients authenticates real clients against both servers:
// libmemcached's memccp/memccat and PHP's Memcached::setSaslAuthData.
// They take the first mechanism their Cyrus SASL client supports from
// the server's list: PLAIN against a password file, CRAM-MD5 against a
// sasldb whose mech_list offers it first.
func TestSASLClients(t *testing.T) {
	t.Parallel()
	nstest.RequireCommands(t, "memccp", "memccat")
	t.Run("password file", func(t *testing.T) {
		pwdb := filepath.Join(t.TempDir(), "pwdb")
		os.WriteFile(pwdb, []byte("alice:secret\n"), 0o600)
		mc, us := startAuthPair(t, sasldbConfig(t, "plain", "alice", "secret"), []string{"MEMCACHED_SASL_PWDB=" + pwdb}, "-S")
		saslClients(t, mc, us)
	})
	t.Run("sasldb with CRAM-MD5", func(t *testing.T) {
		env := sasldbConfig(t, "cram-md5 plain", "alice", "secret")
		mc, us := startAuthPair(t, env, env, "-S")
		saslClients(t, mc, us)
	})
}

func saslClients(t *testing.T, mc, us string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "payload")
	os.WriteFile(file, []byte("hello over SASL\n"), 0o600)
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, addr := range []string{mc, us} {
		servers := "--servers=" + addr
		if out, err := run("memccp", "--binary", servers, "--username=alice", "--password=secret", file); err != nil {
			t.Errorf("%s: memccp: %v\n%s", addr, err, out)
		}
		if out, err := run("memccat", "--binary", servers, "--username=alice", "--password=secret", "payload"); err != nil || out != "hello over SASL\n\n" {
			t.Errorf("%s: memccat: %q, %v", addr, out, err)
		}
		if out, err := run("memccat", "--binary", servers, "--username=alice", "--password=bad", "payload"); err == nil || !strings.Contains(out, "AUTHENTICATION FAILURE") {
			t.Errorf("%s: memccat with a bad password: %q, %v", addr, out, err)
		}
	}
	if _, err := exec.LookPath("php"); err != nil {
		return
	}
	script := `$m = new Memcached(); $m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
list($h, $p) = explode(':', $argv[1]); $m->addServer($h, (int)$p); $m->setSaslAuthData($argv[2], $argv[3]);
echo json_encode([$m->set('pk', 'pv'), $m->getResultCode(), $m->get('pk')]);`
	for _, addr := range []string{mc, us} {
		for pass, want := range map[string]string{"secret": `[true,0,"pv"]`, "bad": `[false,41,false]`} {
			out, err := run("php", "-r", script, "--", addr, "alice", pass)
			if err != nil || out != want {
				t.Errorf("%s: PHP Memcached with password %q: %q, %v; want %s", addr, pass, out, err, want)
			}
		}
	}
}

// With no MEMCACHED_SASL_PWDB both servers check PLAIN against Cyrus
// SASL's sasldb, named by the memcached.conf in SASL_CONF_PATH: the same
// users, realms and changes must get the same answers.
func TestSasldbLikeMemcached(t *testing.T) {
	t.Parallel()
	nstest.RequireCommands(t, "saslpasswd2")
	env, db := saslConf(t, "plain cram-md5") // as memcached's t/sasl
	// The database is created after the servers start, as memcached's
	// t/binary-sasl.t does: both look it up at each authentication.
	mc, us := startAuthPair(t, env, env, "-S")
	saslpasswd(t, db, "alice@r1", "pw1")
	saslpasswd(t, db, "bob@b@c", "pw2")
	saslpasswd(t, db, "carol", "pw3") // the host's realm
	host, _ := os.Hostname()
	auth := func(msg string) []byte { return binReq(0x21, "PLAIN", msg) }
	cases := []struct {
		name string
		msg  string
		ok   bool
	}{
		{"user@realm", "\x00alice@r1\x00pw1", true},
		{"no realm is the host's", "\x00alice\x00pw1", false},
		{"realm holding an @", "\x00bob@b@c\x00pw2", true},
		{"host realm implied", "\x00carol\x00pw3", true},
		{"host realm named", "\x00carol@" + host + "\x00pw3", true},
		{"whitespace around the id", "\x00 carol\t\x00pw3", true},
		{"wrong password", "\x00alice@r1\x00pw1x", false},
		{"password prefix", "\x00alice@r1\x00pw", false},
		{"user is case sensitive", "\x00ALICE@r1\x00pw1", false},
		{"realm is case sensitive", "\x00alice@R1\x00pw1", false},
		{"authzid equal", "alice@r1\x00alice@r1\x00pw1", true},
		{"authzid without the realm", "alice\x00alice@r1\x00pw1", false},
		{"empty user", "\x00@r1\x00pw1", false},
		{"empty realm", "\x00alice@\x00pw1", false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, want := authExchange(t, us, auth(tt.msg)), authExchange(t, mc, auth(tt.msg))
			if got != want {
				t.Errorf("cachectl  %q\nmemcached %q", got, want)
			}
			if ok := strings.Contains(want, protocol.SASLAuthenticated); ok != tt.ok {
				t.Errorf("memcached authenticated: %v, the test expects %v", ok, tt.ok)
			}
		})
	}
	for _, addr := range []string{mc, us} {
		if got := authExchange(t, addr, binReq(0x20, "", "")); !strings.HasSuffix(got, "PLAIN CRAM-MD5") {
			t.Errorf("%s: mechanisms for mech_list \"plain cram-md5\": %q", addr, got)
		}
	}
	cramCases := []struct {
		name, user, init string
		steps            []string // good, bad, empty, short, upper, long: the step's digest; get, plain: a request
	}{
		{"good", "alice@r1", "", []string{"good", "get"}},
		{"wrong password", "alice@r1", "", []string{"bad", "get"}},
		{"host realm implied", "carol", "", []string{"good"}},
		{"whitespace around the user", " carol\t", "", []string{"good"}},
		{"upper-case digest", "alice@r1", "", []string{"upper"}},
		{"text after the digest", "alice@r1", "", []string{"long"}},
		{"short digest", "alice@r1", "", []string{"short"}},
		{"empty response", "alice@r1", "", []string{"empty", "good"}},
		{"space in the user", "alice@r1 x", "", []string{"good"}},
		{"no retry after a failed step", "alice@r1", "", []string{"bad", "good", "get"}},
		{"no step after success", "alice@r1", "", []string{"good", "good", "get"}},
		{"initial data refused", "alice@r1", "x", []string{"good"}},
		{"PLAIN in the middle", "alice@r1", "", []string{"plain", "get"}},
		{"unknown user", "dave", "", []string{"good"}},
	}
	for _, tt := range cramCases {
		t.Run("CRAM-MD5 "+tt.name, func(t *testing.T) {
			got, want := cramExchange(t, us, tt.user, tt.init, tt.steps), cramExchange(t, mc, tt.user, tt.init, tt.steps)
			if got != want {
				t.Errorf("cachectl  %q\nmemcached %q", got, want)
			}
		})
	}
	// A changed password counts at the next authentication.
	saslpasswd(t, db, "alice@r1", "new")
	for _, msg := range []string{"\x00alice@r1\x00pw1", "\x00alice@r1\x00new"} {
		if got, want := authExchange(t, us, auth(msg)), authExchange(t, mc, auth(msg)); got != want {
			t.Errorf("after saslpasswd2 changed the password, %q:\ncachectl  %q\nmemcached %q", msg, got, want)
		}
	}
}

// cramPasswords are the passwords TestSasldbLikeMemcached's users have
// when the CRAM-MD5 cases run.
var cramPasswords = map[string]string{"alice@r1": "pw1", "carol": "pw3"}

// cramExchange runs a CRAM-MD5 exchange, answering the server's
// challenge as each step says, and returns the replies with the
// challenge checked for Cyrus SASL's form and blanked.
func cramExchange(t *testing.T, addr, user, init string, steps []string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	var out strings.Builder
	read := func() (uint16, string) {
		p, err := readPkt(nc)
		if err != nil {
			out.WriteString("<EOF>")
		}
		return p.status, string(p.value)
	}
	nc.Write(binReq(0x21, "CRAM-MD5", init))
	status, challenge := read()
	fmt.Fprintf(&out, "%#x ", status)
	if status == protocol.StatusAuthContinue {
		host, _ := os.Hostname()
		if !regexp.MustCompile(`^<\d+\.\d+@` + regexp.QuoteMeta(host) + `>$`).MatchString(challenge) {
			t.Errorf("%s: challenge %q is not <random.time@%s>", addr, challenge, host)
		}
	} else {
		out.WriteString(challenge)
	}
	mac := hmac.New(md5.New, []byte(cramPasswords[strings.TrimSpace(user)]))
	mac.Write([]byte(challenge))
	digest := hex.EncodeToString(mac.Sum(nil))
	for _, step := range steps {
		var req []byte
		switch step {
		case "get":
			req = binReq(0x00, "k", "")
		case "plain":
			req = binReq(0x21, "PLAIN", "\x00alice@r1\x00pw1")
		default:
			resp := map[string]string{"good": digest, "bad": strings.Repeat("0", 32), "empty": "",
				"short": digest[:31], "upper": strings.ToUpper(digest), "long": digest + "trailing"}[step]
			if step != "empty" {
				resp = user + " " + resp
			}
			req = binReq(0x22, "CRAM-MD5", resp)
		}
		nc.Write(req)
		status, body := read()
		fmt.Fprintf(&out, "| %s: %#x %s", step, status, body)
	}
	return out.String()
}
