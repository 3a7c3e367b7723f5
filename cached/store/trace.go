package store

// What the store tells memcached's `watch` log streams: why a read missed,
// the class an item lives in, and the items evicted. A lookup returns its
// status beside the item; an eviction costs one atomic load, and nothing
// is allocated unless an eviction hook is installed.

// LookupStatus is the outcome of finding a key, as memcached's item_get
// log line names it.
type LookupStatus uint8

const (
	LookupNotFound LookupStatus = iota
	LookupFound
	LookupFlushed
	LookupExpired
)

// Eviction describes an item pushed out of memory to make room.
type Eviction struct {
	Key        []byte // valid only during the hook call
	Fetched    bool   // read at least once
	TTL        int64  // seconds it had left; -1 = no expiry
	LastAccess uint32 // seconds since it was last touched
	Class      uint8
	Len        int // value bytes
}

// EvictionHook receives every eviction, with the store locked: it must
// copy what it keeps and return quickly.
type EvictionHook func(*Eviction)

// SetEvictionHook installs (or with nil removes) the eviction hook.
func (s *Store) SetEvictionHook(h EvictionHook) {
	if h == nil {
		s.evictionHook.Store(nil)
		return
	}
	s.evictionHook.Store(&h)
}

// reportEviction calls the hook for ref, about to be evicted (lock held).
func (s *Store) reportEviction(ref uint32, now uint32) {
	h := s.evictionHook.Load()
	if h == nil {
		return
	}
	ttl := int64(-1)
	if exp := s.exp(ref); exp != 0 {
		ttl = int64(exp) - int64(now)
	}
	(*h)(&Eviction{
		Key:        s.key(ref),
		Fetched:    s.iflags(ref)&flagFetched != 0,
		TTL:        ttl,
		LastAccess: now - s.word(ref, offTime),
		Class:      s.class(ref),
		Len:        int(s.nbytes(ref)),
	})
}

// Class is the slab class of a pending item.
func (p Pending) Class() uint8 { return p.class }

// Status is why the view's lookup found or missed its key.
func (v *View) Status() LookupStatus { return v.status }
