package audit

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Scan implements Source: it streams the cache's flows, asking the kernel
// to filter them (see Filter), and falls back to the whole table only when
// no filter applies, saying why in the Dump.
func (r *Reader) Scan(q Query, fn func(*Flow)) (Dump, error) {
	d := Dump{Requested: q.Filter}
	if d.Requested == "" {
		d.Requested = FilterAuto
	}
	var why []string
	if d.Requested == FilterAuto || d.Requested == FilterTuple {
		n, err := r.scanTuple(q.Ports, fn)
		if err == nil || !filterRefused(err) {
			d.Filter, d.Received = FilterTuple, n
			return d, wrapDump(err)
		}
		why = append(why, fmt.Sprintf("the kernel refused a dump filtered by port (%v; it needs Linux 5.8 or later)", err))
	}
	if d.Requested == FilterAuto || d.Requested == FilterMark {
		if q.Mark.Mask != 0 {
			n, err := r.d.dump(unix.AF_UNSPEC, markFilterAttrs(q.Mark), fn)
			d.Filter, d.Received, d.Fallback = FilterMark, n, joinWhy(why)
			return d, wrapDump(err)
		}
		why = append(why, "the flows are not marked: "+q.NoMark)
	}
	n, err := r.d.dump(unix.AF_UNSPEC, nil, fn)
	d.Filter, d.Received, d.Fallback = FilterNone, n, joinWhy(why)
	return d, wrapDump(err)
}

// scanTuple dumps each family's flows for each of the cache's ports: the
// kernel's tuple filter takes one family and one protocol at a time.
func (r *Reader) scanTuple(ports []Port, fn func(*Flow)) (int, error) {
	total := 0
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		for _, p := range ports {
			n, err := r.d.dump(fam, tupleFilterAttrs(p), fn)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// filterRefused tells a kernel that does not know a filter (it answers
// before sending any flow) from a dump that failed.
func filterRefused(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)
}

func wrapDump(err error) error {
	if err != nil {
		return fmt.Errorf("dumping conntrack table: %w", err)
	}
	return nil
}

func joinWhy(why []string) string {
	s := ""
	for i, w := range why {
		if i > 0 {
			s += "; "
		}
		s += w
	}
	return s
}
