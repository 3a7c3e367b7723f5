package cached

// connTable is a loop's connections by file descriptor (under the loop's
// mu). Descriptors are small and dense, so a slice indexed by them costs a
// bounds check and a load per ready event where a map cost a hash and a
// probe, and about the same memory: 8 bytes per descriptor number.
type connTable struct{ byFD []*conn }

// get returns the connection registered on fd, or nil.
func (t *connTable) get(fd int) *conn {
	if fd < 0 || fd >= len(t.byFD) {
		return nil
	}
	return t.byFD[fd]
}

// put registers c on its descriptor.
func (t *connTable) put(c *conn) {
	if c.fd >= len(t.byFD) {
		grown := make([]*conn, max(c.fd+1, 2*len(t.byFD), 64))
		copy(grown, t.byFD)
		t.byFD = grown
	}
	t.byFD[c.fd] = c
}

// remove unregisters c and reports whether it was registered.
func (t *connTable) remove(c *conn) bool {
	if t.get(c.fd) != c {
		return false
	}
	t.byFD[c.fd] = nil
	return true
}
