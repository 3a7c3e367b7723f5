// Command cachectl-bench measures cachectl's daemon side by side with
// stock memcached: a load generator that checks every reply (load), and
// an alternating A/B harness over workloads W1-W10 (compare). It only
// ever talks to loopback servers it was pointed at or started itself.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	killAll() // servers we started never outlive us
	if err != nil {
		fmt.Fprintln(os.Stderr, "cachectl-bench:", err)
		os.Exit(1)
	}
}
