package firewall

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// eventsSettle gathers the burst of messages one ruleset change makes (a
// restore is a transaction of many) into one notification.
const eventsSettle = 50 * time.Millisecond

// NetfilterEvents notifies after every nf_tables ruleset change in this
// network namespace, whoever made it: iptables-nft, nft, firewalld, ufw.
// It subscribes to the NFNLGRP_NFTABLES netlink group, which costs nothing
// while nothing changes. The legacy iptables backend sends no such events;
// the keeper's poll covers it. Needs CAP_NET_ADMIN.
func NetfilterEvents(ctx context.Context) (<-chan struct{}, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{Groups: 1 << (unix.NFNLGRP_NFTABLES - 1)})
	if err != nil {
		return nil, fmt.Errorf("subscribing to nf_tables events: %w", err)
	}
	raw := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	go func() {
		defer close(raw)
		for {
			_, err := c.Receive()
			if err != nil && ctx.Err() != nil {
				return
			}
			// An overflow (ENOBUFS) lost events: report a change anyway.
			if err != nil && !errors.Is(err, unix.ENOBUFS) {
				return
			}
			select {
			case raw <- struct{}{}:
			default:
			}
		}
	}()
	return settle(ctx, raw, eventsSettle), nil
}

// settle passes on one notification per burst of raw ones: it waits until
// quiet has passed with no new message, so a long restore (thousands of
// rules, each batch its own messages) is still one change. A stream that
// never pauses is reported every settleMax quiet periods all the same.
func settle(ctx context.Context, raw <-chan struct{}, quiet time.Duration) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-raw:
				if !ok {
					return
				}
			}
			if !waitQuiet(ctx, raw, quiet) {
				return
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}

// settleMax bounds how many quiet periods a burst may last.
const settleMax = 10

// waitQuiet returns once raw has been silent for quiet, or settleMax
// quiet periods after it was called; false when ctx ended first. A closed
// raw ends the burst too (its last notification still goes out).
func waitQuiet(ctx context.Context, raw <-chan struct{}, quiet time.Duration) bool {
	deadline := time.NewTimer(settleMax * quiet)
	defer deadline.Stop()
	timer := time.NewTimer(quiet)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case _, ok := <-raw:
			if !ok {
				return true
			}
			timer.Reset(quiet)
		case <-timer.C:
			return true
		case <-deadline.C:
			return true
		}
	}
}
