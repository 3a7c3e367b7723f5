package daemon

import (
	"errors"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maximizeCore is memcached's -r: raise the core file limit as far as
// it goes (infinity, else the hard limit) and refuse to start when no core
// file could be written at all. A Go program writes one only when a fatal
// error's traceback asks for it, so -r also sets GOTRACEBACK=crash.
func maximizeCore() error {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_CORE, &r) == nil {
		inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
		if unix.Setrlimit(unix.RLIMIT_CORE, &inf) != nil {
			_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: r.Max, Max: r.Max})
		}
	}
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &r); err != nil || r.Cur == 0 {
		return errors.New("failed to ensure corefile creation (-r): the core file limit is 0 and cannot be raised; raise its hard limit (ulimit -H -c, or LimitCORE= under systemd)")
	}
	debug.SetTraceback("crash")
	return nil
}

// lockMemory is memcached's -k: keep the process's memory in RAM. Item
// memory is a large reservation touched page by page, so pages are locked
// as they are first touched (MCL_ONFAULT) rather than all at once. Memory
// mapped later is locked too and counts against RLIMIT_MEMLOCK, unless the
// process holds CAP_IPC_LOCK: past the limit the Go runtime's next mapping
// would fail and stop the daemon. So memory is locked only when the limit
// is unlimited or can be raised to it, or when the process keeps
// CAP_IPC_LOCK (root that does not drop to -u); otherwise it stays
// unlocked, with a warning that says what to raise.
func lockMemory(dropping bool, log *slog.Logger) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r); err != nil {
		log.Warn("warning: -k invalid, memory not locked", "err", os.NewSyscallError("getrlimit", err))
		return
	}
	unlimited := r.Cur == unix.RLIM_INFINITY ||
		unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}) == nil
	if !unlimited && (dropping || !hasCapability(unix.CAP_IPC_LOCK)) {
		log.Warn("warning: -k invalid, memory not locked: RLIMIT_MEMLOCK is finite and cannot be raised; raise it (ulimit -l unlimited, or LimitMEMLOCK=infinity under systemd)",
			"limit_bytes", r.Cur)
		return
	}
	if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT); err != nil {
		log.Warn("warning: -k invalid, mlockall() failed", "err", err)
	}
}

// hasCapability reports whether the process's effective set holds cap.
func hasCapability(cap int) bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			set, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && set&(1<<cap) != 0
		}
	}
	return false
}
