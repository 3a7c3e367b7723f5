package audit

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"
)

// errLostDuringSync: events were dropped while the dump ran, so its
// replay would be incomplete; another synchronisation is already asked for.
var errLostDuringSync = errors.New("conntrack events were lost during the resynchronising dump")

// sync rebuilds the table from one filtered dump. Events keep arriving
// meanwhile and are logged; once the dump ends, every event queued so far
// is read and the log replayed over the dump's flows, so nothing that
// happened while the kernel walked its table is lost or undone.
func (t *Tracker) sync() error {
	t.mu.Lock()
	t.tab.beginSync()
	losses, ports, limit := t.tab.st.Losses, t.tab.ports, t.tab.max
	t.mu.Unlock()

	dumped := map[flowKey]Flow{}
	over := false
	d, err := t.rd.Scan(Query{Filter: FilterAuto, Ports: ports}, func(f *Flow) {
		if !t.tab.tracks(f.Proto, f.Reply.Src.Port()) {
			return // a full dump sends every flow of the host
		}
		if len(dumped) >= limit {
			over = true
			return
		}
		dumped[keyOf(f)] = *f
	})

	t.mu.Lock()
	defer t.mu.Unlock()
	_, derr := t.drain()
	switch {
	case err != nil:
		t.tab.failSync(err)
		return err
	case derr != nil:
		t.tab.failSync(derr)
		return derr
	case over:
		err := fmt.Errorf("more than %d flows on the cache ports (the table's bound)", limit)
		t.tab.failSync(err)
		return err
	case t.tab.st.Losses != losses:
		return errLostDuringSync
	}
	if err := t.tab.finishSync(dumped, d.Filter, time.Now()); err != nil {
		return err
	}
	st := t.tab.status()
	t.log.Info("conntrack flow table in sync", "flows", st.Flows, "dump", d.Filter, "resyncs", st.Resyncs)
	return nil
}

// giveUp stops following events when no dump can ever succeed again:
// ctnetlink checks CAP_NET_ADMIN of the task that asks for a dump, and a
// daemon that dropped privileges (bind -u) lost it for good. Its events
// alone cannot rebuild a table, so reading them would only cost CPU; the
// table stays out of sync, saying why, and audits read a dump of their
// own.
func (t *Tracker) giveUp(err error) {
	reason := fmt.Sprintf("resync needs CAP_NET_ADMIN (daemon runs as %s)", userName())
	t.log.Warn("conntrack flow table out of sync for good; audits will dump", "reason", reason, "err", err)
	t.mu.Lock()
	t.final = reason
	t.tab.outOfSync(reason)
	t.mu.Unlock()
	t.stop()
}

// userName names the user the process runs as, or its uid.
func userName() string {
	uid := strconv.Itoa(os.Geteuid())
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return "uid " + uid
}
