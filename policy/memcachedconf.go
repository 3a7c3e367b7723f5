package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/cachectl/cachectl/cached/settings"
)

// ConfImport is what a Debian-style memcached.conf (one flag per line, #
// comments; what /etc/init.d/memcached passes to memcached) becomes in a
// policy: the settings that carry over, the listen addresses kept, and
// the lines that cannot be carried over, each with the reason.
type ConfImport struct {
	Policy   *Policy       `json:"-"`
	Settings []ConfSetting `json:"settings"`
	Listen   []ConfListen  `json:"listen"`
	Dropped  []ConfDropped `json:"dropped"`
}

// ConfSetting is one flag that became a policy field.
type ConfSetting struct {
	Line  int    `json:"line"`
	Flag  string `json:"flag"`
	Value string `json:"value"`
	Field string `json:"field"` // the policy field, as the YAML names it
}

// ConfListen is one -l address kept as a listen address, with what it
// means and, when it is not an address of this host, a hint that it was
// probably meant as a peer.
type ConfListen struct {
	Line int        `json:"line"`
	Addr netip.Addr `json:"addr"`
	Note string     `json:"note"`
	Hint string     `json:"hint,omitempty"`
}

// ConfDropped is a line the policy cannot hold.
type ConfDropped struct {
	Line   int    `json:"line"`
	Text   string `json:"text"`
	Reason string `json:"reason"`
}

// confLong names memcached's short flags by their long names, so both
// spellings read alike.
var confLong = map[string]string{
	"--memory-limit": "-m", "--port": "-p", "--udp-port": "-U", "--listen": "-l",
	"--conn-limit": "-c", "--threads": "-t", "--max-item-size": "-I", "--user": "-u",
	"--pidfile": "-P", "--daemon": "-d", "--verbose": "-v",
}

// bindFlags are memcached flags that are not policy settings but that
// `cachectl bind` takes as they are.
var bindFlags = map[string]string{
	"-u": "run as this user", "-P": "pid file", "-v": "verbosity", "-vv": "verbosity", "-vvv": "verbosity",
	"-M": "no evictions", "-f": "growth factor", "-n": "minimum item space", "-C": "no CAS",
	"-A": "shutdown command", "-F": "no flush_all", "-R": "requests per event", "-b": "backlog",
	"-B": "protocol", "-o": "extended options", "-Z": "TLS", "-X": "no key dumps", "-k": "locked memory",
	"-r": "core dumps", "-L": "large pages",
}

// flagsWithValue take the next word as their value.
var flagsWithValue = "mpUlctIuPfnRbBoaskeD"

// ImportMemcachedConf reads conf into a policy that starts from Default.
// local lists this host's addresses: an -l address outside it gets a hint.
func ImportMemcachedConf(conf []byte, local []netip.Addr) (ConfImport, error) {
	imp := ConfImport{Policy: Default(), Settings: []ConfSetting{}, Listen: []ConfListen{}, Dropped: []ConfDropped{}}
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, opt := range splitConfLine(line) {
			imp.take(n, opt, local)
		}
	}
	if err := sc.Err(); err != nil {
		return imp, fmt.Errorf("reading memcached.conf: %w", err)
	}
	if err := imp.Policy.Validate(); err != nil {
		return imp, fmt.Errorf("the imported settings do not make a valid policy: %w", err)
	}
	imp.Policy.Reindex()
	return imp, nil
}

// confOpt is one flag with its value ("" for a switch).
type confOpt struct {
	flag, value, text string
}

// splitConfLine cuts a line into flags: "-m 64", "-m64", "--port=11211",
// several flags on one line, and Debian's "logfile FILE" directive.
func splitConfLine(line string) []confOpt {
	words := strings.Fields(line)
	var out []confOpt
	for i := 0; i < len(words); i++ {
		w := words[i]
		o := confOpt{flag: w, text: w}
		switch {
		case strings.HasPrefix(w, "--"):
			if name, val, ok := strings.Cut(w, "="); ok {
				o.flag, o.value = name, val
			} else if i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
				i++
				o.value, o.text = words[i], w+" "+words[i]
			}
			if short, ok := confLong[o.flag]; ok {
				o.flag = short
			}
		case strings.HasPrefix(w, "-") && len(w) > 2 && strings.ContainsRune(flagsWithValue, rune(w[1])):
			o.flag, o.value = w[:2], w[2:]
		case strings.HasPrefix(w, "-") && len(w) == 2 && strings.ContainsRune(flagsWithValue, rune(w[1])) && i+1 < len(words):
			i++
			o.value, o.text = words[i], w+" "+words[i]
		case w == "logfile" && i+1 < len(words):
			i++
			o.value, o.text = words[i], w+" "+words[i]
		}
		out = append(out, o)
	}
	return out
}

func (imp *ConfImport) take(n int, o confOpt, local []netip.Addr) {
	p := imp.Policy
	set := func(field string, apply func() error) {
		if err := apply(); err != nil {
			imp.drop(n, o, err.Error())
			return
		}
		imp.Settings = append(imp.Settings, ConfSetting{Line: n, Flag: o.flag, Value: o.value, Field: field})
	}
	switch o.flag {
	case "-m":
		set("daemon.memory_limit_mb", func() error { return confMemory(o.value, &p.Daemon.MemoryLimitMB) })
	case "-c":
		set("daemon.max_connections", func() error { return confInt(o.value, 1, 1<<24, &p.Daemon.MaxConnections) })
	case "-t":
		set("daemon.threads", func() error { return confInt(o.value, 1, 1024, &p.Daemon.Threads) })
	case "-I":
		set("daemon.max_item_size", func() error {
			sz, err := ParseSize(o.value)
			p.Daemon.MaxItemSize = sz
			return err
		})
	case "-p":
		set("bind.port", func() error {
			if o.value == "0" {
				return errors.New("-p 0 turns TCP off, and cachectl bind serves TCP; keep the default port or choose one")
			}
			return confPort(o.value, &p.Bind.Port)
		})
	case "-U":
		set("bind.udp_port", func() error { return confPort(o.value, &p.Bind.UDPPort) })
	case "-l":
		imp.listen(n, o, local)
	case "-d":
		imp.drop(n, o, "cachectl does not fork; systemd (cachectl.service) runs it in the background")
	case "-s", "-a":
		imp.drop(n, o, "a unix socket is guarded by its file mode, not by the peer allowlist; run 'cachectl serve -s PATH' for it")
	case "logfile":
		imp.drop(n, o, "a setting of Debian's start script, not of memcached; cachectl logs to stderr (the journal under systemd)")
	default:
		if what, ok := bindFlags[o.flag]; ok {
			imp.drop(n, o, fmt.Sprintf("not a policy setting (%s); pass it to 'cachectl bind' as it is", what))
		} else {
			imp.drop(n, o, "not carried over: pass it to 'cachectl bind' if it still applies ('cachectl serve --help' lists the flags)")
		}
	}
}

func (imp *ConfImport) drop(n int, o confOpt, reason string) {
	imp.Dropped = append(imp.Dropped, ConfDropped{Line: n, Text: o.text, Reason: reason})
}

// listen keeps each address of an -l value, which memcached reads as a
// comma-separated list, each optionally with :port.
func (imp *ConfImport) listen(n int, o confOpt, local []netip.Addr) {
	for _, item := range strings.Split(o.value, ",") {
		item = strings.TrimSpace(item)
		addr, err := netip.ParseAddr(strings.Trim(item, "[]"))
		if err != nil {
			ap, aperr := netip.ParseAddrPort(item)
			if aperr != nil {
				imp.drop(n, confOpt{flag: "-l", text: "-l " + item}, "not an IP address (cachectl resolves no names; 'cachectl bind --iface NAME' takes an interface)")
				continue
			}
			addr = ap.Addr()
		}
		imp.listenAddr(n, addr.Unmap(), local)
	}
}

func (imp *ConfImport) listenAddr(n int, addr netip.Addr, local []netip.Addr) {
	if addr.IsUnspecified() {
		imp.drop(n, confOpt{text: "-l " + addr.String()}, "listening on every address is not recorded in a policy; choose it on the command line: 'cachectl bind --addr "+addr.String()+"'")
		return
	}
	if slices.Contains(imp.Policy.Bind.Addresses, addr) {
		return
	}
	imp.Policy.Bind.Addresses = append(imp.Policy.Bind.Addresses, addr)
	l := ConfListen{Line: n, Addr: addr,
		Note: "memcached listened on this LOCAL address; 'cachectl bind' will listen there too (bind.addresses). It does not say who may connect: that is the allowlist (peers.allowed)"}
	if !addr.IsLoopback() && !slices.Contains(local, addr) {
		l.Hint = fmt.Sprintf("%s is not an address of this host, so memcached could not have listened on it (bind() fails with 'Cannot assign requested address'). "+
			"If it is a client that should connect, remove it from bind.addresses and run 'cachectl allow %s'", addr, addr)
	}
	imp.Listen = append(imp.Listen, l)
}

// confMemory reads -m as memcached does: megabytes, or a size with a
// k, m or g suffix.
func confMemory(s string, dst *int) error {
	sz, err := settings.ParseSize(s, settings.Megabyte)
	if err != nil || sz < settings.Megabyte {
		return fmt.Errorf("%q is not a memory size in megabytes (e.g. 64)", s)
	}
	*dst = int(sz / settings.Megabyte)
	return nil
}

func confInt(s string, lo, hi int, dst *int) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return fmt.Errorf("%q is not a number in %d-%d", s, lo, hi)
	}
	*dst = v
	return nil
}

func confPort(s string, dst *uint16) error {
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return fmt.Errorf("%q is not a port number", s)
	}
	*dst = uint16(v)
	return nil
}
