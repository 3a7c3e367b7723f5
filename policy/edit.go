package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUnchanged, returned by an Edit function, means the policy is already
// as wanted: Edit returns the policy and nil without rewriting the file, so
// watchers see no change.
var ErrUnchanged = errors.New("policy unchanged")

// FileMode is the mode of a policy file cachectl writes: readable by the
// daemon and tooling, writable by root only.
const FileMode = 0o644

// Edit changes the policy at path under an exclusive lock, so concurrent
// editors (several `cachectl allow` processes) each see the others' changes.
// It loads the file (or Default when it does not exist, creating the
// directory), calls fn, validates, and replaces the file atomically. A file
// that does not parse or validate is never overwritten; if fn returns an
// error nothing is written. It returns the policy as written (or as found,
// when fn returns ErrUnchanged).
func Edit(path string, fn func(*Policy) error) (*Policy, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating policy directory: %w", err)
	}
	unlock, err := lock(path)
	if err != nil {
		return nil, err
	}
	defer unlock()

	p, err := Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		p, err = Default(), nil
	}
	if err != nil {
		return nil, err
	}
	if err := fn(p); errors.Is(err, ErrUnchanged) {
		p.Reindex()
		return p, nil
	} else if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			ve.Path = path
		}
		return nil, fmt.Errorf("refusing to write an invalid policy: %w", err)
	}
	p.Reindex()
	data, err := p.Marshal()
	if err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(path, data, FileMode); err != nil {
		return nil, err
	}
	return p, nil
}

// Create writes p to path only if no file is there yet (`policy init`). It
// takes the same lock as Edit.
func Create(path string, p *Policy) error { return write(path, p, false) }

// Replace writes p to path whether or not a policy is there
// (`import-memcached-conf --force`), under the same lock as Edit, so it
// cannot interleave with a concurrent allow or revoke.
func Replace(path string, p *Policy) error { return write(path, p, true) }

func write(path string, p *Policy, replace bool) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("refusing to write an invalid policy: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating policy directory: %w", err)
	}
	unlock, err := lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Lstat(path); err == nil && !replace {
		return fmt.Errorf("%s: %w", path, fs.ErrExist)
	}
	data, err := p.Marshal()
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, FileMode)
}

// lock takes an exclusive flock on path+".lock". The lock file is left in
// place: removing it would let two editors lock two different inodes.
func lock(path string) (unlock func(), err error) {
	lp := path + ".lock"
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening policy lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", lp, err)
	}
	// Closing the descriptor releases the flock.
	return func() { f.Close() }, nil
}

// WriteFileAtomic replaces path with data so that readers see either the
// old or the new file, never a torn one, even across a crash: a temp file in
// the same directory is written and fsynced, renamed over path, and the
// directory is fsynced so the rename itself is durable.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing policy: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("writing policy: %w", err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing policy: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("writing policy: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing policy: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing policy: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing policy directory: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("syncing policy directory: %w", err)
	}
	return nil
}
