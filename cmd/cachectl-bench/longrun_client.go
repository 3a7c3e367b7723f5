package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// lrClient is the long-run scenarios' client: pipelined multi-gets and
// noreply sets over one connection, and stats. It does not check values
// (the load command does that); it counts hits.
type lrClient struct {
	nc  net.Conn
	rd  *bufio.Reader
	out bytes.Buffer
	val []byte
}

func dialLR(addr string) (*lrClient, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", addr, err)
	}
	return &lrClient{nc: nc, rd: bufio.NewReaderSize(nc, 256<<10)}, nil
}

func (c *lrClient) Close() error { return c.nc.Close() }

// value returns n bytes of filler, reused between calls.
func (c *lrClient) value(n int) []byte {
	if cap(c.val) < n {
		c.val = bytes.Repeat([]byte("v"), n)
	}
	return c.val[:n]
}

// appendSet queues a noreply set; flush sends what is queued.
func (c *lrClient) appendSet(key string, size, ttl int) {
	fmt.Fprintf(&c.out, "set %s 0 %d %d noreply\r\n", key, ttl, size)
	c.out.Write(c.value(size))
	c.out.WriteString("\r\n")
}

// sync sends the queued requests and waits until the server has run them
// (an mn round trip).
func (c *lrClient) sync() error {
	c.out.WriteString("mn\r\n")
	if err := c.send(); err != nil {
		return err
	}
	line, err := c.rd.ReadString('\n')
	if err != nil {
		return fmt.Errorf("waiting for mn: %w", err)
	}
	if line != "MN\r\n" {
		return fmt.Errorf("unexpected reply %q", clipString(line))
	}
	return nil
}

func (c *lrClient) send() error {
	c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	_, err := c.nc.Write(c.out.Bytes())
	c.out.Reset()
	return err
}

// multiGet asks for keys in one get and returns which were hits.
func (c *lrClient) multiGet(keys []string, hit []bool) error {
	c.out.WriteString("get")
	for _, k := range keys {
		c.out.WriteString(" ")
		c.out.WriteString(k)
	}
	c.out.WriteString("\r\n")
	if err := c.send(); err != nil {
		return err
	}
	clear(hit)
	for {
		line, err := c.rd.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading get reply: %w", err)
		}
		if string(line) == "END\r\n" {
			return nil
		}
		f := strings.Fields(string(line))
		if len(f) < 4 || f[0] != "VALUE" {
			return fmt.Errorf("unexpected get reply %q", clipString(string(line)))
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			return fmt.Errorf("bad VALUE length in %q", clipString(string(line)))
		}
		for i, k := range keys {
			if k == f[1] {
				hit[i] = true
			}
		}
		if _, err := c.rd.Discard(n + 2); err != nil {
			return err
		}
	}
}

// stats returns `stats <sub>` as a map.
func (c *lrClient) stats(sub string) (map[string]string, error) {
	c.out.WriteString(strings.TrimSpace("stats "+sub) + "\r\n")
	if err := c.send(); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for {
		line, err := c.rd.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("reading stats: %w", err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "END" {
			return m, nil
		}
		if f := strings.SplitN(line, " ", 3); len(f) == 3 {
			m[f[1]] = f[2]
		}
	}
}

func statInt(m map[string]string, key string) int64 {
	n, _ := strconv.ParseInt(m[key], 10, 64)
	return n
}
