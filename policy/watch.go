package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce gathers the burst of events one save makes (editors write,
// truncate, rename) into a single reload.
const watchDebounce = 100 * time.Millisecond

// Watch calls onChange with the newly loaded policy each time the file at
// path changes, until ctx is done. It watches the directory, not the file:
// Edit and most editors replace the file by rename, which gives it a new
// inode a file watch would lose. A file that fails to load is passed to
// onError and no onChange follows, so the caller keeps the previous policy.
// Callbacks run on Watch's goroutine, one at a time. Watch returns nil when
// ctx ends, or an error if the directory cannot be watched.
func Watch(ctx context.Context, path string, onChange func(*Policy), onError func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching policy: %w", err)
	}
	defer w.Close()
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watching policy directory %s: %w", dir, err)
	}
	base := filepath.Base(path)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) == base && ev.Op&^fsnotify.Chmod != 0 {
				timer.Reset(watchDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflowed event queue may have hidden a change: reload.
			onError(fmt.Errorf("watching policy: %w", err))
			timer.Reset(watchDebounce)
		case <-timer.C:
			p, err := Load(path)
			if err != nil {
				onError(err)
				continue
			}
			onChange(p)
		}
	}
}
