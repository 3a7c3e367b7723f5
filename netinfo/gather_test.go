package netinfo

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestDumpRetriesInterruptedDumps(t *testing.T) {
	calls := 0
	got, err := dump("links", func() ([]int, error) {
		calls++
		if calls < 3 {
			return []int{-1}, netlink.ErrDumpInterrupted
		}
		return []int{calls}, nil
	})
	if err != nil || calls != 3 || len(got) != 1 || got[0] != 3 {
		t.Fatalf("dump = %v, %v after %d calls; want the clean third result", got, err, calls)
	}
}

func TestDumpAcceptsDataWhenAlwaysInterrupted(t *testing.T) {
	calls := 0
	got, err := dump("addresses", func() ([]int, error) {
		calls++
		return []int{calls}, fmt.Errorf("wrapped: %w", netlink.ErrDumpInterrupted)
	})
	if err != nil || calls != dumpTries || got[0] != dumpTries {
		t.Fatalf("dump = %v, %v after %d calls; want the data of try %d", got, err, calls, dumpTries)
	}
}

func TestDumpFailsOnOtherErrors(t *testing.T) {
	boom := errors.New("boom")
	if _, err := dump("links", func() ([]int, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("dump error = %v, want it to wrap boom", err)
	}
}
