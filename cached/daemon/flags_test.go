package daemon

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/cachectl/cachectl/cached"
	"github.com/cachectl/cachectl/cached/settings"
)

// parseFlags reads a flag line as `cachectl serve` (AllFlags) or `cachectl
// bind` (NoListen) does and returns its Config.
func parseFlags(t *testing.T, scope Scope, line string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	var f Flags
	f.Register(fs, scope)
	if err := fs.Parse(strings.Fields(line)); err != nil {
		return Config{}, usageError(err)
	}
	return f.Config()
}

// TestDefaultsMatchMemcached: no flags at all is memcached 1.6.18's
// defaults, the same values the store and the policy use.
func TestDefaultsMatchMemcached(t *testing.T) {
	cfg, err := parseFlags(t, AllFlags, "")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Server
	if s.Port != settings.Port || s.MaxConns != settings.MaxConns || s.Threads != settings.Threads ||
		s.Backlog != settings.Backlog || s.ReqsPerEvent != settings.ReqsPerEvent || s.UnixMask != settings.UnixMask ||
		s.UDPPort != 0 || !s.FlushEnabled || s.Protocol != cached.ProtocolAuto {
		t.Errorf("server defaults %+v", s)
	}
	if !reflect.DeepEqual(s.Store, cached.DefaultConfig().Store) {
		t.Errorf("store defaults %+v, want %+v", s.Store, cached.DefaultConfig().Store)
	}
}

func TestFlagLines(t *testing.T) {
	tests := []struct {
		line  string
		check func(Config) bool
		err   string // the refusal must say this; always a usage error
	}{
		{"-m 128 -c 10 -t 2 -I 2m -f 1.5 -n 64 -M -C -A -F -vv", func(c Config) bool {
			s := c.Server
			return s.Store.MemoryLimit == 128<<20 && s.MaxConns == 10 && s.Threads == 2 && s.Store.ItemSizeMax == 2<<20 &&
				s.Store.GrowthFactor == 1.5 && s.Store.MinChunk == 64 && !s.Store.Evictions && !s.Store.CAS &&
				s.EnableShutdown && !s.FlushEnabled && s.Verbosity == 2
		}, ""},
		{"--memory-limit=1g --conn-limit=5 --threads=1 --max-item-size=1024 --slab-growth-factor=2", func(c Config) bool {
			s := c.Server.Store
			return s.MemoryLimit == 1<<30 && c.Server.MaxConns == 5 && s.ItemSizeMax == 1024 && s.ChunkMax == 1024 && s.GrowthFactor == 2
		}, ""},
		{"-I 512k", func(c Config) bool {
			return c.Server.Store.ItemSizeMax == 512<<10 && c.Server.Store.ChunkMax == 512<<10
		}, ""},
		{"-m 4096 -I 1g", func(c Config) bool { return c.Server.Store.ItemSizeMax == 1<<30 }, ""},
		{"-u nobody -P /run/c.pid", func(c Config) bool { return c.User == "nobody" && c.PidFile == "/run/c.pid" }, ""},
		{"-l 127.0.0.1,::1 -l 10.0.0.1:11300", func(c Config) bool { return len(c.Server.Listen) == 2 }, ""},
		{"-o idle_timeout=5,hashpower=20", func(c Config) bool {
			return c.Server.IdleTimeout.Seconds() == 5 && c.Server.Store.HashPower == 20
		}, ""},
		{"-o modern,no_lru_crawler,slab_reassign,lru_crawler_sleep=100", func(Config) bool { return true }, ""},
		{"-o slab_chunk_max=4096", func(c Config) bool { return c.Server.Store.ChunkMax == 4096 }, ""},
		{"", func(c Config) bool { return !c.Server.Store.MemcachedItemSizes }, ""},
		{"-o memcached_item_sizes", func(c Config) bool { return c.Server.Store.MemcachedItemSizes }, ""},
		{"", func(c Config) bool { return !c.Server.Store.NoHugePages }, ""},
		{"-o no_huge_pages", func(c Config) bool { return c.Server.Store.NoHugePages }, ""},
		{"-o no_modern", func(c Config) bool { return c.Server.Store.ChunkMax == 1<<20 }, ""},
		{"-o slab_chunk_max=16384,no_modern", func(c Config) bool { return c.Server.Store.ChunkMax == 16384 }, ""},
		{"-o no_modern,slab_chunk_max=16384", func(c Config) bool { return c.Server.Store.ChunkMax == 16384 }, ""},
		{"-d -P /run/c.pid", func(c Config) bool { return c.Daemonize && c.PidFile == "/run/c.pid" }, ""},
		{"-R 1 -D / -W", func(c Config) bool {
			return c.Server.ReqsPerEvent == 1 && c.Server.PrefixDelimiter == '/' && c.Server.Detail && c.Server.WatchDisabled
		}, ""},
		{"-o watcher_logbuf_size=8,worker_logbuf_size=2", func(c Config) bool {
			return c.Server.WatcherLogBuf == 8<<10 && c.Server.WorkerLogBuf == 2<<10
		}, ""},
		{"-e /dev/shm/cache", func(c Config) bool { return c.Server.Store.MemoryFile == "/dev/shm/cache" }, ""},
		{"--memory-file=/dev/shm/cache", func(c Config) bool { return c.Server.Store.MemoryFile == "/dev/shm/cache" }, ""},
		{"", func(c Config) bool { return c.Server.Store.MemoryFile == "" }, ""},
		{"-p -1 -U -1", func(c Config) bool { return c.Server.Port == -1 && c.Server.UDPPort == -1 }, ""},
		{"-R 0", nil, "Number of requests per event must be greater than 0"},
		{"-o worker_logbuf_size=-1", nil, "could not parse argument to worker_logbuf_size"},
		// memcached keeps the kilobytes in 32 bits: 2^22 KiB wraps to 0,
		// 2^32+1 parses (strtoul is 64-bit) and keeps its low bits.
		{"-o watcher_logbuf_size=4194304,worker_logbuf_size=4294967297", func(c Config) bool {
			return c.Server.WatcherLogBuf == 0 && c.Server.WorkerLogBuf == 1<<10
		}, ""},
		{"-o worker_logbuf_size=2147483648", func(c Config) bool { return c.Server.WorkerLogBuf == 0 }, ""},
		{"-o worker_logbuf_size=12x", nil, "could not parse argument to worker_logbuf_size"},
		{"-o worker_logbuf_size=-0", func(c Config) bool { return c.Server.WorkerLogBuf == 0 }, ""},
		{"-p -2", nil, "Invalid port number"},
		{"-m lots", nil, "megabytes"},
		{"-I 2g -m 8192", nil, "higher than a gigabyte"},
		{"-I 100", nil, "less than 1024 bytes"},
		{"-m 1 -I 1m", nil, "1/2 of memory max"},
		{"-f 1", nil, "factor (-f) must be greater than 1"},
		{"-t 0", nil, "greater than 0"},
		{"-o hashpower=5", nil, "Initial hashtable multiplier of 5 is too low"},
		{"-o frobnicate", nil, `Illegal suboption "frobnicate"`},
		{"-o idle_timeout", nil, "Missing numeric argument for idle_timeout"},
		// extstore's settings are kept for stats settings; a storage file
		// is refused.
		{"", func(c Config) bool { return c.Server.Extstore == cached.DefaultExtstoreSettings() }, ""},
		{"-o ext_item_size=100,ext_max_frag=0.5,slab_automove_freeratio=0.2,ext_wbuf_size=8,ext_drop_unread", func(c Config) bool {
			e := c.Server.Extstore
			return e.ItemSize == 100 && e.MaxFrag == 0.5 && e.AutomoveFreeRatio == 0.2 && e.WBufSize == 8<<20 && e.DropUnread
		}, ""},
		{"-o ext_wbuf_size=4096", func(c Config) bool { return c.Server.Extstore.WBufSize == 0 }, ""}, // wraps, as in memcached
		{"-o ext_path=/var/cache/ext:1G", nil, "no external storage (extstore)"},
		{"-o track_sizes", func(c Config) bool { return c.Server.Store.TrackSizes }, ""},
		{"-o sock_cookie_id=77", func(c Config) bool { return c.Server.SockCookieID == 77 }, ""},
		{"-X", func(c Config) bool { return c.Server.DisableDumping }, ""},
		{"--disable-dumping -k -r", func(c Config) bool { return c.Server.DisableDumping && c.LockMemory && c.MaxCore }, ""},
		{"-L", func(c Config) bool { return c.Server.Store.LargePages }, ""},
		{"-o sock_cookie_id=x", func(c Config) bool { return c.Server.SockCookieID == 0 }, ""}, // memcached ignores it too

		// -B takes memcached's three values.
		{"", func(c Config) bool { return c.Server.Protocol == cached.ProtocolAuto }, ""},
		{"-B ascii", func(c Config) bool { return c.Server.Protocol == cached.ProtocolASCII }, ""},
		{"--protocol=binary", func(c Config) bool { return c.Server.Protocol == cached.ProtocolBinary }, ""},
		{"-B text", nil, "should be one of auto, binary, or ascii"},

		// Transports.
		{"", func(c Config) bool { return c.Server.UDPPort == 0 && c.Server.Port == 11211 && !c.Server.UDPAnyPeer }, ""},
		{"-U 11300", func(c Config) bool { return c.Server.UDPPort == 11300 && c.Server.Port == 11300 }, ""},
		{"-p 11211 -U 11300", func(c Config) bool { return c.Server.UDPPort == 11300 && c.Server.Port == 11211 }, ""},
		{"-U 11211 -o udp_any_peer", func(c Config) bool { return c.Server.UDPAnyPeer }, ""},
		{"-o udp_any_peer", nil, "only makes sense with -U"},
		{"-U 70000", nil, "between 0 (off) and 65535"},
		{"-s /run/c.sock -a 660", func(c Config) bool { return c.Server.UnixSocket == "/run/c.sock" && c.Server.UnixMask == 0o660 }, ""},
		{"-s /run/c.sock", func(c Config) bool { return c.Server.UnixMask == fs.FileMode(0o700) }, ""},
		{"-s /run/c.sock -a 999", nil, "octal permissions"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_ca_cert=/ca.pem,ssl_verify_mode=2", func(c Config) bool {
			return c.Server.TLS == cached.TLSConfig{Enabled: true, ChainCert: "/c.pem", Key: "/k.pem", CACert: "/ca.pem", VerifyMode: 2}
		}, ""},
		{"-Z", nil, "ssl_chain_cert=FILE,ssl_key=FILE"},
		{"-o ssl_chain_cert=/c.pem,ssl_key=/k.pem", nil, "add -Z"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_verify_mode=5", nil, "3 (once)"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_kernel_tls", nil, "no kernel TLS offload"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_min_version=3,ssl_wbuf_size=8,ssl_session_cache,ssl_ciphers=AES128-SHA", func(c Config) bool {
			t := c.Server.TLS
			return t.MinVersion == "tlsv1.3" && t.WBufSize == 8192 && t.SessionCache && t.Ciphers == "AES128-SHA"
		}, ""},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_min_version=tlsv1.1", func(c Config) bool { return c.Server.TLS.MinVersion == "tlsv1.1" }, ""},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_min_version=1.3", nil, "could not parse argument to ssl_min_version"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_min_version=4", nil, "Invalid ssl_min_version. Use help to see valid options."},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_wbuf_size=big", nil, "could not parse argument to ssl_wbuf_size"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_wbuf_size=0", nil, "at least 1"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_ciphers", nil, "Missing ssl_ciphers argument"},
		{"-o ssl_session_cache", nil, "add -Z"},
		{"-l notls:127.0.0.1:11212", nil, "'notls' option is valid only when SSL is enabled"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem -p 0", nil, "You cannot enable SSL without a TCP port"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem -p 0 -U 11300", nil, "You cannot enable SSL without a TCP port"},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem -U 11300", func(c Config) bool { return c.Server.Port == 11300 }, ""},
		// memcached starts with no listener at all; Listen warns.
		{"-p 0", func(c Config) bool { return c.Server.Port == 0 && c.Server.UDPPort == 0 }, ""},
		{"-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem -l notls:127.0.0.1:11211,127.0.0.1:11212", func(c Config) bool { return c.Server.TLS.Enabled }, ""},

		// Authentication picks its protocol and refuses UDP, as memcached.
		{"-Y /etc/auth", func(c Config) bool {
			return c.Server.AuthFile == "/etc/auth" && c.Server.Protocol == cached.ProtocolASCII
		}, ""},
		{"-S", func(c Config) bool { return c.Server.SASL && c.Server.Protocol == cached.ProtocolBinary }, ""},
		{"-S -Y /etc/auth", func(c Config) bool { return c.Server.SASL && c.Server.Protocol == cached.ProtocolASCII }, ""},
		{"-S -B auto", nil, "ERROR: You cannot allow the ASCII protocol while using SASL."},
		{"-Y /etc/auth -B auto", nil, "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens."},
		{"-S -U 11211", nil, "ERROR: Cannot enable UDP while using binary SASL authentication."},
		{"-Y /etc/auth -U 11211", nil, "Cannot use UDP with ascii authentication enabled (-U 0 to disable)"},
		{"-Z -o ssl_keyformat=2", nil, "only 1 (PEM)"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cfg, err := parseFlags(t, AllFlags, tt.line)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				if !IsUsage(err) {
					t.Errorf("%v is not a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

// TestNoListenScope: a command that chooses its own addresses has no -l,
// -s or -a, and keeps -p as the daemon's.
func TestNoListenScope(t *testing.T) {
	fs := pflag.NewFlagSet("bind", pflag.ContinueOnError)
	var f Flags
	f.Register(fs, NoListen)
	for _, name := range []string{"listen", "unix-socket", "unix-mask"} {
		if fs.Lookup(name) != nil {
			t.Errorf("NoListen registers --%s", name)
		}
	}
	if p := fs.Lookup("port"); p == nil || p.Shorthand != "p" {
		t.Errorf("--port: %+v", p)
	}
	if _, err := parseFlags(t, NoListen, "-p 11300 -m 32"); err != nil {
		t.Error(err)
	}
}
