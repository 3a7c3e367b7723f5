package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// onlyFiles lists dir's entries other than the lock file, to spot leftovers.
func onlyFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".lock" {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestEditCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "cachectl", "policy.yaml")
	p, err := Edit(path, func(p *Policy) error {
		p.Allow(netip.MustParsePrefix("10.0.0.1/32"), "app", time.Now())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Permits(netip.MustParseAddr("10.0.0.1")); !ok {
		t.Error("returned policy does not permit the new peer")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != FileMode {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), fs.FileMode(FileMode))
	}
	q, err := Load(path)
	if err != nil || len(q.Peers.Allowed) != 1 || !q.LoopbackAllowed() {
		t.Errorf("reloaded %+v, %v", q, err)
	}
	if got := onlyFiles(t, filepath.Dir(path)); len(got) != 1 {
		t.Errorf("directory holds %v, want only policy.yaml", got)
	}
}

func TestEditNeverOverwritesBadFile(t *testing.T) {
	for name, content := range map[string]string{
		"malformed":     "version: 1\npeers: [\n",
		"unknown field": "version: 1\npeers:\n  alowed: []\n",
		"invalid":       "version: 1\nfirewall:\n  verdict: accept\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := tempPolicy(t, content)
			called := false
			_, err := Edit(path, func(*Policy) error { called = true; return nil })
			if err == nil {
				t.Fatal("Edit of a bad file succeeded")
			}
			if called {
				t.Error("fn was called on a policy that did not load")
			}
			if got, _ := os.ReadFile(path); string(got) != content {
				t.Errorf("file changed to:\n%s", got)
			}
			if got := onlyFiles(t, filepath.Dir(path)); len(got) != 1 {
				t.Errorf("directory holds %v", got)
			}
		})
	}
}

func TestEditWritesNothingOnFailure(t *testing.T) {
	path := tempPolicy(t, "version: 1\n")
	boom := errors.New("boom")
	if _, err := Edit(path, func(*Policy) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("fn error not returned: %v", err)
	}
	before, _ := os.Stat(path)
	p, err := Edit(path, func(*Policy) error { return ErrUnchanged })
	if err != nil || p == nil || p.Version != 1 {
		t.Errorf("ErrUnchanged: %v, %v; want the loaded policy and nil", p, err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Error("ErrUnchanged rewrote the file")
	}
	_, err = Edit(path, func(p *Policy) error { p.Bind.Port = 0; return nil })
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Path != path {
		t.Errorf("invalid result: %v, want a *ValidationError naming the file", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "version: 1\n" {
		t.Errorf("file changed to:\n%s", got)
	}
	if got := onlyFiles(t, filepath.Dir(path)); len(got) != 1 {
		t.Errorf("directory holds %v", got)
	}
}

func TestWriteFileAtomicCleansUp(t *testing.T) {
	dir := t.TempDir()
	// Renaming a file over a non-empty directory fails after the temp file
	// is written: the temp file must not stay behind.
	target := filepath.Join(dir, "policy.yaml")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(target, []byte("version: 1\n"), FileMode); err == nil {
		t.Fatal("rename over a directory succeeded")
	}
	if got := onlyFiles(t, dir); len(got) != 1 || got[0] != "policy.yaml" {
		t.Errorf("directory holds %v, want only the policy.yaml directory", got)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	path := tempPolicy(t, "version: 1\n")
	if err := Create(path, Default()); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing file: %v, want fs.ErrExist", err)
	}
	fresh := filepath.Join(t.TempDir(), "new", "policy.yaml")
	if err := Create(fresh, Default()); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(fresh); err != nil {
		t.Errorf("created file does not load: %v", err)
	}
}

// Edit's flock is per open file, so goroutines exclude each other as
// processes do (the cross-process test is in cmd/cachectl).
func TestEditConcurrentGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := Edit(path, func(p *Policy) error {
				p.Allow(netip.MustParsePrefix(fmt.Sprintf("10.9.0.%d/32", i)), "", time.Now())
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Peers.Allowed) != 20 {
		t.Errorf("%d entries after 20 concurrent edits, want 20", len(p.Peers.Allowed))
	}
}
