package metrics

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cachectl/cachectl/firewall/audit"
)

// Auditor runs the conntrack audit on an interval and keeps the result for
// the collector: a dump of the whole table is too heavy to take on every
// scrape, and a violation matters on its own schedule, not Prometheus's.
type Auditor struct {
	run      func(context.Context) (audit.Report, error)
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu sync.Mutex
	st auditState
}

// NewAuditor audits with run every interval once started.
func NewAuditor(run func(context.Context) (audit.Report, error), interval time.Duration, log *slog.Logger) *Auditor {
	return &Auditor{run: run, interval: interval, log: log, now: time.Now}
}

// Start audits once at once, then every interval, until ctx ends.
func (a *Auditor) Start(ctx context.Context) {
	go func() {
		t := time.NewTicker(a.interval)
		defer t.Stop()
		for {
			a.RunOnce(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// RunOnce audits now and records the result. A violation is logged on
// every run that sees it: it is a standing breach, not an event.
func (a *Auditor) RunOnce(ctx context.Context) {
	start := a.now()
	rep, err := a.run(ctx)
	took := a.now().Sub(start)
	a.mu.Lock()
	a.st.runs++
	a.st.lastRun, a.st.took = start, took
	if err != nil {
		a.st.failures++
	} else {
		a.st.ok, a.st.okAt, a.st.summary = true, start, rep.Summary
	}
	a.mu.Unlock()
	switch {
	case err != nil:
		a.log.Error("periodic audit failed; the metrics keep the last report", "err", err)
	case rep.Violated():
		a.log.Warn("periodic audit found peers the policy does not permit", "violations", rep.Summary.Violations, "peers", violators(rep))
	case rep.Incomplete():
		a.log.Warn("periodic audit cannot vouch for the connection table", "findings", findings(rep))
	default:
		a.log.Info("periodic audit clean", "peers", rep.Summary.Peers, "flows", rep.Summary.Flows)
	}
}

// auditState is what the collector reports of the audits so far.
type auditState struct {
	runs, failures uint64
	lastRun        time.Time     // when the last audit started
	took           time.Duration // how long it took
	ok             bool          // a report has been taken
	okAt           time.Time     // when the last report was taken
	summary        audit.Summary // the last report's summary
}

func (a *Auditor) state() auditState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

func violators(rep audit.Report) string {
	var out []string
	for _, p := range rep.Peers {
		if p.Verdict == audit.Violation {
			out = append(out, p.Addr.String())
		}
	}
	return strings.Join(out, ",")
}

func findings(rep audit.Report) string {
	var out []string
	for _, f := range rep.Findings {
		if f.Severity == audit.SeverityError {
			out = append(out, f.Kind)
		}
	}
	return strings.Join(out, ",")
}
