package cached

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cachectl/cachectl/netinfo/nstest"
)

// procField reads one field of /proc/PID/status (or a line of limits).
func procLine(t *testing.T, pid int, file, prefix string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("/proc/%d/%s has no %q line", pid, file, prefix)
	return ""
}

// TestLockMemoryAndCoreFlags: -k locks the daemon's memory as it is
// touched (a root daemon that keeps CAP_IPC_LOCK may, whatever its
// RLIMIT_MEMLOCK), and -r lifts the core file limit, as memcached's do.
func TestLockMemoryAndCoreFlags(t *testing.T) {
	nstest.RequireRoot(t)
	eff := procLine(t, os.Getpid(), "status", "CapEff:")
	set, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(eff, "CapEff:")), 16, 64)
	const capIPCLock = 14
	if set&(1<<capIPCLock) == 0 {
		nstest.Unavailable(t, "the test process lacks CAP_IPC_LOCK")
	}
	d := startCachectl(t, "-k", "-r")
	pid := d.cmd.Process.Pid
	lck := strings.Fields(procLine(t, pid, "status", "VmLck:"))
	if len(lck) < 2 || lck[1] == "0" {
		t.Errorf("-k: %q, want locked memory", lck)
	}
	rss := strings.Fields(procLine(t, pid, "status", "VmRSS:"))
	if kb, _ := strconv.Atoi(rss[1]); kb > 256<<10 {
		t.Errorf("-k populated the item memory up front: VmRSS %d kB", kb)
	}
	if core := procLine(t, pid, "limits", "Max core file size"); strings.Fields(core)[4] == "0" {
		t.Errorf("-r: %q, want a core file limit above 0", core)
	}
}
