package main

import (
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram in the HDR style: 32 linear
// sub-buckets per power of two of nanoseconds, so any quantile is within
// ~3% of the true value, recording is a few instructions and there is no
// per-sample memory. One per worker, merged at the end.
type hist struct {
	counts [64 * subBuckets]uint64
	n      uint64
	max    time.Duration
}

const subBits = 5
const subBuckets = 1 << subBits

func bucketOf(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	exp := bits.Len64(ns) - subBits // >= 1
	return exp*subBuckets + int((ns>>uint(exp-1))&(subBuckets-1))
}

// lowerBound is the smallest value that falls in bucket i.
func lowerBound(i int) uint64 {
	exp, sub := i/subBuckets, uint64(i%subBuckets)
	if exp == 0 {
		return sub
	}
	return (subBuckets | sub) << uint(exp-1)
}

func (h *hist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the midpoint of the bucket holding quantile q.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := lowerBound(i), lowerBound(i+1)
			return min(time.Duration((lo+hi)/2), h.max)
		}
	}
	return h.max
}
