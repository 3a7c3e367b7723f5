package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// filterDaemon is the audit-scale column that reads the daemon's
// event-tracked table: 'cachectl audit --filter auto' with 'cachectl bind'
// running in the namespace since before the table was filled.
const filterDaemon = "daemon"

// labDaemon is 'cachectl bind' inside the lab's namespace, tracking the
// cache port's conntrack flows while the benchmark fills the table.
type labDaemon struct {
	cmd      *exec.Cmd
	out      lockedBuffer
	done     chan struct{} // closed when the daemon exited
	baseline float64       // RSS in MiB once in sync on the empty table
}

// startDaemon runs the daemon and waits until its table is in sync.
func (l *auditLab) startDaemon(ctx context.Context) error {
	d := &labDaemon{done: make(chan struct{})}
	d.cmd = exec.Command("ip", "netns", "exec", l.ns, l.cachectl, "bind", "--policy", l.policy, "--addr", labAddr.String())
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("starting cachectl bind in %s: %w", l.ns, err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	l.daemon = d
	if err := l.waitTracked(ctx, 0); err != nil {
		return err
	}
	var err error
	d.baseline, err = d.rssMiB()
	return err
}

// waitTracked waits until an audit reads the daemon's table and finds
// want cache flows in it: after a fill the daemon may be resynchronising
// from lost events.
func (l *auditLab) waitTracked(ctx context.Context, want int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := exec.CommandContext(ctx, l.cachectl, "audit", "--netns", l.ns, "--policy", l.policy, "--daemon", "", "--json").Output()
		var rep struct {
			Source struct {
				Kind     string `json:"kind"`
				Fallback string `json:"fallback"`
			} `json:"source"`
			Summary struct {
				Flows int `json:"flows"`
			} `json:"summary"`
		}
		_ = json.Unmarshal(out, &rep)
		if rep.Source.Kind == filterDaemon && rep.Summary.Flows == want {
			return nil
		}
		select {
		case <-l.daemon.done:
			return fmt.Errorf("the daemon exited; its output:\n%s", l.daemon.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon's table is not in use after 60s (last: %q, %d flows); daemon output:\n%s",
				rep.Source.Fallback, rep.Summary.Flows, l.daemon.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rssMiB is the daemon's resident set now.
func (d *labDaemon) rssMiB() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("reading the daemon's RSS: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS line in /proc/%d/status", d.cmd.Process.Pid)
}

// cpuSeconds is the daemon's user and system time so far.
func (d *labDaemon) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("reading the daemon's CPU time: %w", err)
	}
	// The fields after the parenthesised command name; utime and stime
	// are the 14th and 15th of the line, in clock ticks (100 a second).
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", d.cmd.Process.Pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %q %q", d.cmd.Process.Pid, f[11], f[12])
	}
	return (ut + st) / 100, nil
}

// stop ends the daemon: SIGTERM, then SIGKILL after 10s.
func (d *labDaemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// fillTracked grows the table to size and, with the daemon running,
// returns the CPU it spent meanwhile and waits until its table holds the
// cache's flows again.
func (l *auditLab) fillTracked(ctx context.Context, size, cacheFlows int) (float64, error) {
	var cpu0 float64
	if l.daemon != nil {
		var err error
		if cpu0, err = l.daemon.cpuSeconds(); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if err := l.fill(size, cacheFlows); err != nil {
		return 0, err
	}
	fmt.Fprintf(os.Stderr, "table at %d entries (filled in %s)\n", size, time.Since(start).Round(time.Millisecond))
	if l.daemon == nil {
		return 0, nil
	}
	cpu1, err := l.daemon.cpuSeconds()
	if err != nil {
		return 0, err
	}
	return cpu1 - cpu0, l.waitTracked(ctx, cacheFlows)
}

// noteDaemon adds the daemon's memory to r.
func (l *auditLab) noteDaemon(r *auditScaleResult) error {
	rss, err := l.daemon.rssMiB()
	if err != nil {
		return err
	}
	r.DaemonRSSMiB, r.DaemonAddedMiB = rss, rss-l.daemon.baseline
	return nil
}
