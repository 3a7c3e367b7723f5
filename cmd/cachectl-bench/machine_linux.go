package main

import (
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// machine describes where a comparison ran, for the README table.
type machine struct {
	Date          string  `json:"date"`
	NProc         int     `json:"nproc"`
	Kernel        string  `json:"kernel"`
	CPU           string  `json:"cpu"`
	Go            string  `json:"go"`
	Memcached     string  `json:"memcached"`
	LoopbackRTTus float64 `json:"loopback_rtt_us"`
	SyscallNs     float64 `json:"syscall_ns"`
}

func describeMachine(memcachedPath string) machine {
	m := machine{Date: time.Now().UTC().Format("2006-01-02"), NProc: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if out, err := exec.Command(memcachedPath, "-V").Output(); err == nil {
		m.Memcached = strings.TrimSpace(string(out))
	}
	m.LoopbackRTTus = loopbackRTT(20000, time.Second)
	m.SyscallNs = syscallCost(200000)
	return m
}

// loopbackRTT is the mean round trip of a 64-byte ping-pong over one
// loopback TCP connection: the ceiling for one unpipelined connection.
func loopbackRTT(n int, limit time.Duration) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(limit + time.Second))
		io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit + time.Second))
	buf := make([]byte, 64)
	start := time.Now()
	done := 0
	for ; done < n && time.Since(start) < limit; done++ {
		if _, err := c.Write(buf); err != nil {
			break
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			break
		}
	}
	if done == 0 {
		return 0
	}
	return float64(time.Since(start).Microseconds()) / float64(done)
}

// syscallCost is the mean cost of getppid, the cheapest real syscall.
func syscallCost(n int) float64 {
	start := time.Now()
	for range n {
		syscall.Getppid()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}
