package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// loadConfig is one load-generator run against one server.
type loadConfig struct {
	Addr       string        `json:"addr"`
	Conns      int           `json:"conns"`
	GetRatio   float64       `json:"get_ratio"`
	MinSize    int           `json:"min_size"`
	MaxSize    int           `json:"max_size"`
	Keys       int           `json:"keys"`
	Zipf       float64       `json:"zipf,omitempty"` // s > 1; 0 = uniform
	Pipeline   int           `json:"pipeline"`       // requests per write
	MultiGet   int           `json:"multi_get"`      // keys per get command
	TTLMin     int           `json:"ttl_min,omitempty"`
	TTLMax     int           `json:"ttl_max,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
	MaxOps     int64         `json:"max_ops"`     // 0 = no cap beyond the duration
	StrictHits bool          `json:"strict_hits"` // a miss is an error (nothing can be evicted or expire)
	Seed       uint64        `json:"seed"`        // key choice and versions
	ValueSeed  uint64        `json:"value_seed"`  // value derivation: must match the preload's
	Timeout    time.Duration `json:"timeout_ns"`  // per batch round trip
	// Rate paces the run at this many commands per second in all, each
	// connection sending on a fixed schedule; 0 sends the next batch as
	// soon as the last is answered. Paced latencies count from the
	// scheduled send time, so a stalled server is charged for the
	// requests it held up (no coordinated omission).
	Rate float64 `json:"rate,omitempty"`
	// ReadBuffer is each connection's reply buffer (0 = 64 KiB); thousands
	// of mostly idle clients take a small one.
	ReadBuffer int `json:"read_buffer,omitempty"`
	// CacheAside makes every command a get and follows each miss with a
	// set of that key in the next batch, as a cache-aside client refills
	// from its database: the hit ratio then shows what the server keeps.
	CacheAside bool `json:"cache_aside,omitempty"`
	// FixedValues stores one value per key with no header (newFixedCodec),
	// so values may be shorter than the self-checking header; only
	// cache-aside or get-only runs without TTLs can use it.
	FixedValues bool `json:"fixed_values,omitempty"`
	// Insert is memcaslap's mix: every set stores a key never stored
	// before, and gets read one of the Keys most recently inserted. The
	// cache grows for the whole run, its index doubles on the way, and
	// every new item enters HOT for the LRU maintainer to move on; sets
	// that overwrite (W1-W3) exercise none of that.
	Insert bool `json:"insert,omitempty"`
	// inserted counts the keys stored so far (preloaded ones included),
	// shared by the workers and by the runs of one server, so a run picks
	// up where the last stopped (startInserting).
	inserted *atomic.Uint64
}

// startInserting gives an Insert run its key counter, starting past the
// preloaded keys 0..Keys-1. Copies of c made afterwards share it: a
// caller that runs one server in several runs (compare's turns) calls it
// once, or each run would store the first run's keys again.
func (c *loadConfig) startInserting() {
	if c.Insert && c.inserted == nil {
		c.inserted = new(atomic.Uint64)
		c.inserted.Store(uint64(c.Keys))
	}
}

func (c *loadConfig) validate() error {
	switch {
	case c.Conns < 1 || c.Conns > 10000:
		return fmt.Errorf("--conns %d: want 1..10000", c.Conns)
	case c.GetRatio < 0 || c.GetRatio > 1:
		return fmt.Errorf("--get %g: want a fraction 0..1", c.GetRatio)
	case c.Keys < 1 || c.Keys > 1<<31:
		return fmt.Errorf("--keys %d: want 1..2^31", c.Keys)
	case c.Pipeline < 1 || c.Pipeline > 1024:
		return fmt.Errorf("--pipeline %d: want 1..1024", c.Pipeline)
	case c.MultiGet < 1 || c.MultiGet > 1024:
		return fmt.Errorf("--mget %d: want 1..1024", c.MultiGet)
	case c.Zipf != 0 && c.Zipf <= 1:
		return fmt.Errorf("--zipf %g: math/rand/v2's Zipf needs s > 1 (or 0 for uniform keys)", c.Zipf)
	case c.TTLMin < 0 || c.TTLMax < c.TTLMin || c.TTLMax > 2592000:
		return fmt.Errorf("--ttl %d..%d: want 0 <= min <= max <= 30 days in seconds", c.TTLMin, c.TTLMax)
	case c.Duration <= 0 && c.MaxOps <= 0:
		return errors.New("a run needs a --duration or an --ops cap (both bound it)")
	case c.Rate < 0 || c.Rate > 1e8:
		return fmt.Errorf("--rate %g: want 0 (as fast as answered) .. 1e8 commands/s", c.Rate)
	case c.Duration > 24*time.Hour:
		return fmt.Errorf("--duration %s: want at most 24h", c.Duration)
	case c.CacheAside && (c.MultiGet != 1 || !c.FixedValues):
		return errors.New("a cache-aside run needs single-key gets and fixed values")
	case c.FixedValues && ((!c.CacheAside && c.GetRatio != 1) || c.TTLMax != 0):
		return errors.New("fixed values hold one version per key: only cache-aside or get-only runs without TTLs can use them")
	case c.Insert && (c.Zipf != 0 || c.CacheAside || c.FixedValues || c.StrictHits):
		return errors.New("--insert chooses keys itself (new ones for sets, recent ones for gets) and a get may race the set of its key: it takes no --zipf, cache-aside, fixed values or --strict-hits")
	}
	return nil
}

// codec is the value codec the run's values derive from.
func (c *loadConfig) codec() (*codec, error) {
	if c.FixedValues {
		return newFixedCodec(c.ValueSeed, c.MinSize, c.MaxSize)
	}
	return newCodec(c.ValueSeed, c.MinSize, c.MaxSize)
}

// loadResult is what one run measured.
type loadResult struct {
	Ops        int64         `json:"ops"`  // commands sent and answered
	Keys       int64         `json:"keys"` // keys requested (gets) or stored (sets)
	Gets       int64         `json:"get_keys"`
	Hits       int64         `json:"hits"`
	Sets       int64         `json:"sets"`
	Errors     int64         `json:"errors"`
	Refused    int64         `json:"refused,omitempty"` // sets answered "SERVER_ERROR out of memory"
	FirstError string        `json:"first_error,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	OpsPerSec  float64       `json:"ops_per_sec"`
	KeysPerSec float64       `json:"keys_per_sec"`
	HitRate    float64       `json:"hit_rate"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	P999       time.Duration `json:"p999_ns"`
	Max        time.Duration `json:"max_ns"`
	Batches    uint64        `json:"batches"`
	lat        *hist         // every batch's latency, for add
}

// tally is one worker's counts, merged at the end.
type tally struct {
	ops, keys, gets, hits, sets, errors int64
	refused                             int64 // sets answered out of memory
	firstErr                            string
	lat                                 hist
}

func (t *tally) fail(msg string) {
	t.errors++
	if t.firstErr == "" {
		t.firstErr = msg
	}
}

// runLoad drives the server at cfg.Addr until the duration passes or the
// op cap is reached. Every reply is checked; a wrong reply counts as an
// error and ends that connection, since the stream can no longer be
// trusted to be in step.
func runLoad(ctx context.Context, cfg loadConfig) (*loadResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cd, err := cfg.codec()
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	conns := make([]net.Conn, cfg.Conns)
	for i := range conns {
		c, err := net.DialTimeout("tcp", cfg.Addr, 5*time.Second)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return nil, fmt.Errorf("connection %d to %s: %w", i+1, cfg.Addr, err)
		}
		conns[i] = c
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var budget atomic.Int64
	budget.Store(cfg.MaxOps)
	if cfg.MaxOps <= 0 {
		budget.Store(1 << 62)
	}
	cfg.startInserting()
	tallies := make([]tally, cfg.Conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range conns {
		w := newWorker(i, c, &cfg, cd, &tallies[i])
		wg.Go(func() { w.run(ctx, &budget) })
	}
	// Closing the sockets unblocks workers stuck on a dead server.
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(cfg.Timeout, func() {
			for _, c := range conns {
				c.Close()
			}
		})
	})
	defer stop()
	wg.Wait()
	elapsed := time.Since(start)
	for _, c := range conns {
		c.Close()
	}
	return summarize(tallies, elapsed), nil
}

func summarize(tallies []tally, elapsed time.Duration) *loadResult {
	var all tally
	for i := range tallies {
		t := &tallies[i]
		all.ops += t.ops
		all.keys += t.keys
		all.gets += t.gets
		all.hits += t.hits
		all.sets += t.sets
		all.errors += t.errors
		all.refused += t.refused
		if all.firstErr == "" {
			all.firstErr = t.firstErr
		}
		all.lat.merge(&t.lat)
	}
	r := &loadResult{
		Ops: all.ops, Keys: all.keys, Gets: all.gets, Hits: all.hits, Sets: all.sets,
		Errors: all.errors, Refused: all.refused, FirstError: all.firstErr, Elapsed: elapsed, lat: &all.lat,
	}
	r.derive()
	return r
}

// refusedNote is what a result line adds for refused sets, if any.
func (r *loadResult) refusedNote() string {
	if r.Refused == 0 {
		return ""
	}
	return fmt.Sprintf(", %d sets refused out of memory", r.Refused)
}

// absorb adds o to r, as one run: counts and time summed, latencies
// merged.
func (r *loadResult) absorb(o *loadResult) {
	r.FirstError = cmp.Or(r.FirstError, o.FirstError)
	r.Ops += o.Ops
	r.Keys += o.Keys
	r.Gets += o.Gets
	r.Hits += o.Hits
	r.Sets += o.Sets
	r.Errors += o.Errors
	r.Refused += o.Refused
	r.Elapsed += o.Elapsed
	r.lat.merge(o.lat)
	r.derive()
}

// derive fills the rates and quantiles from the counts and histogram.
func (r *loadResult) derive() {
	r.P50, r.P99, r.P999 = r.lat.quantile(0.50), r.lat.quantile(0.99), r.lat.quantile(0.999)
	r.Max, r.Batches = r.lat.max, r.lat.n
	r.OpsPerSec, r.KeysPerSec, r.HitRate = 0, 0, 0
	if s := r.Elapsed.Seconds(); s > 0 {
		r.OpsPerSec = float64(r.Ops) / s
		r.KeysPerSec = float64(r.Keys) / s
	}
	if r.Gets > 0 {
		r.HitRate = float64(r.Hits) / float64(r.Gets)
	}
}

// keyChooser draws key indices uniformly or Zipf-distributed.
type keyChooser struct {
	rng  *rand.Rand
	zipf *rand.Zipf
	n    uint64
}

func newKeyChooser(rng *rand.Rand, keys int, s float64) keyChooser {
	k := keyChooser{rng: rng, n: uint64(keys)}
	if s > 1 {
		k.zipf = rand.NewZipf(rng, s, 1, uint64(keys-1))
	}
	return k
}

func (k keyChooser) next() uint32 {
	if k.zipf != nil {
		return uint32(k.zipf.Uint64())
	}
	return uint32(k.rng.Uint64N(k.n))
}
