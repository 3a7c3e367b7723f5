package cached

import (
	"fmt"
	"sync"

	"github.com/cachectl/cachectl/cached/protocol"
)

// ExtstoreSettings are memcached's ext_* settings. This daemon keeps every
// item in memory, so they change nothing; but memcached 1.6.18 is built
// with extstore by default, and such a build without a storage file
// (-o ext_path) still takes the -o options and the extstore command and
// shows the values in stats settings. Taking them the same way lets
// command lines, tuning scripts and settings checks carry over.
type ExtstoreSettings struct {
	ItemSize, ItemAge, LowTTL, RecacheRate uint32
	WBufSize                               uint32 // bytes
	CompactUnder, DropUnder, MaxSleep      uint32
	MaxFrag, AutomoveFreeRatio             float64
	DropUnread                             bool
}

// DefaultExtstoreSettings are memcached's storage_init_config defaults.
func DefaultExtstoreSettings() ExtstoreSettings {
	return ExtstoreSettings{ItemSize: 512, ItemAge: 1<<32 - 1, RecacheRate: 2000, WBufSize: 4 << 20,
		MaxSleep: 1000000, MaxFrag: 0.8, AutomoveFreeRatio: 0.01}
}

// extstoreState is the settings as the extstore command leaves them.
type extstoreState struct {
	mu sync.Mutex
	s  ExtstoreSettings
}

func (e *extstoreState) get() ExtstoreSettings {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.s
}

// set applies one extstore command (nothing for an empty Setting).
func (e *extstoreState) set(r protocol.ExtstoreRequest) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &e.s
	switch r.Setting {
	case "max_frag":
		s.MaxFrag = r.Frac
	case "drop_unread":
		s.DropUnread = r.Value != 0
	default:
		if n := s.Number(r.Setting); n != nil {
			*n = r.Value
		}
	}
}

// Number is the whole-number setting the extstore command calls name
// (item_size, ...; -o spells it with "ext_" before), or nil.
func (s *ExtstoreSettings) Number(name string) *uint32 {
	return map[string]*uint32{"item_size": &s.ItemSize, "item_age": &s.ItemAge, "low_ttl": &s.LowTTL,
		"recache_rate": &s.RecacheRate, "compact_under": &s.CompactUnder, "drop_under": &s.DropUnder,
		"max_sleep": &s.MaxSleep}[name]
}

// extstore is the extstore command.
func (c *conn) extstore(toks [][]byte, _ []byte) error {
	req, err := protocol.ParseExtstore(toks)
	c.srv.ext.set(req) // a refused value of a known setting clears it too
	if err != nil {
		return c.refuse(req.Noreply, err)
	}
	c.noreply = req.Noreply
	c.reply(protocol.ReplyOK)
	return nil
}

// statsExtstoreSettings are stats settings' ext_* lines, in memcached's
// order and formats.
func (c *conn) statsExtstoreSettings() {
	s := c.srv.ext.get()
	c.stat("ext_item_size", s.ItemSize)
	c.stat("ext_item_age", s.ItemAge)
	c.stat("ext_low_ttl", s.LowTTL)
	c.stat("ext_recache_rate", s.RecacheRate)
	c.stat("ext_wbuf_size", s.WBufSize)
	c.stat("ext_compact_under", s.CompactUnder)
	c.stat("ext_drop_under", s.DropUnder)
	c.stat("ext_max_sleep", s.MaxSleep)
	c.stat("ext_max_frag", fmt.Sprintf("%.2f", s.MaxFrag))
	c.stat("slab_automove_freeratio", fmt.Sprintf("%.3f", s.AutomoveFreeRatio))
	c.stat("ext_drop_unread", s.DropUnread)
}
