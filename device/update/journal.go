package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The steps of an update, in order, as the journal records them. Each is written (and
// fsync'd) before the work that follows it starts, so that after a power cut or a SIGKILL
// the next start knows where it stood.
const (
	StepDownloaded  = "downloaded"   // the .deb is in the state directory, not yet checked
	StepVerified    = "verified"     // size, sha256, signature, package, version and architecture match
	StepBackupKept  = "backup_kept"  // the running version's .deb is kept for a rollback
	StepInstalling  = "installing"   // dpkg runs (or was interrupted)
	StepInstalled   = "installed"    // the new version is configured; it must report healthy by Deadline
	StepCommitted   = "committed"    // the new version proved healthy: it stays
	StepRollingBack = "rolling_back" // the backup is being reinstalled (or was interrupted)
	StepRolledBack  = "rolled_back"  // the previous version is back
)

// Journal is the state of the one update in progress (or the last one, until its outcome is
// reported): the file update/journal.json in the state directory.
type Journal struct {
	Step     string `json:"step"`
	Version  string `json:"version"`            // being installed
	From     string `json:"from"`               // running before
	Package  string `json:"package"`            // the Debian package, fitmirror-agent
	Deb      string `json:"deb"`                // the new version's .deb
	Backup   string `json:"backup,omitempty"`   // the running version's .deb
	Reason   string `json:"reason,omitempty"`   // why it was rolled back
	Health   string `json:"health,omitempty"`   // what the new version last said was wrong with it
	Launched bool   `json:"launched,omitempty"` // verified: the installer was asked to start

	HealthTimeout time.Duration `json:"health_timeout"`
	Deadline      time.Time     `json:"deadline,omitzero"` // installed: healthy by then, or rolled back
}

// Terminal reports whether the journal's update is over (committed or rolled back).
func (j *Journal) Terminal() bool { return j.Step == StepCommitted || j.Step == StepRolledBack }

// store is the update directory: the journal, its lock, the downloads and the backup.
type store struct {
	dir string
}

func (s store) path(name string) string { return filepath.Join(s.dir, name) }

// read returns the journal, or nil when there is none.
func (s store) read() (*Journal, error) {
	b, err := os.ReadFile(s.path("journal.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update journal: %w", err)
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("update journal %s: %w", s.path("journal.json"), err)
	}
	return &j, nil
}

// write replaces the journal atomically: a temporary file, fsync, rename, fsync of the
// directory.
func (s store) write(j *Journal) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path("journal.json.tmp")
	if err := writeSync(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("update journal: %w", err)
	}
	s.own(tmp)
	if err := os.Rename(tmp, s.path("journal.json")); err != nil {
		return fmt.Errorf("update journal: %w", err)
	}
	return syncDir(s.dir)
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// own gives a file the owner of the update directory: the installer runs as root, the agent
// as its own user, and both rewrite the journal.
func (s store) own(path string) {
	if os.Geteuid() != 0 {
		return
	}
	if fi, err := os.Stat(s.dir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			os.Chown(path, int(st.Uid), int(st.Gid))
		}
	}
}

// lock takes an exclusive flock on the named lock file (blocking or not) and returns its
// release; ok is false when block is false and someone else holds it.
func (s store) lock(name string, block bool) (release func(), ok bool, err error) {
	f, err := os.OpenFile(s.path(name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("update lock: %w", err)
	}
	s.own(f.Name())
	how := syscall.LOCK_EX
	if !block {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("update lock: %w", err)
	}
	return func() { f.Close() }, true, nil
}

// change reads the journal under its lock, lets f change it, and writes it when f returns
// true. It returns the journal as it now stands (nil when there is none).
func (s store) change(f func(j *Journal) (write bool, err error)) (*Journal, error) {
	release, _, err := s.lock("journal.lock", true)
	if err != nil {
		return nil, err
	}
	defer release()
	j, err := s.read()
	if err != nil {
		return nil, err
	}
	write, err := f(j)
	if err != nil || !write {
		return j, err
	}
	return j, s.write(j)
}

// step moves the journal from one of the steps from to next (with what set changes); ok is
// false when the journal was not at one of them (someone else moved it first).
func (s store) step(next string, set func(j *Journal), from ...string) (j *Journal, ok bool, err error) {
	j, err = s.change(func(j *Journal) (bool, error) {
		if j == nil {
			return false, nil
		}
		for _, f := range from {
			if j.Step == f {
				j.Step = next
				if set != nil {
					set(j)
				}
				ok = true
				return true, nil
			}
		}
		return false, nil
	})
	return j, ok, err
}

// dropParts removes the partial downloads of other releases than keep, and returns keep's
// path.
func (s store) dropParts(keep string) string {
	parts, _ := filepath.Glob(s.path("release-*.part"))
	for _, p := range parts {
		if filepath.Base(p) != keep {
			os.Remove(p)
		}
	}
	return s.path(keep)
}

// clear removes the journal and the files of the update (the cached current.deb and a
// partial download, resumed by the next command for the same release, stay).
func (s store) clear() {
	for _, name := range []string{"journal.json", "new.deb", "apply"} {
		os.Remove(s.path(name))
	}
	backups, _ := filepath.Glob(s.path("backup*.deb"))
	for _, b := range backups {
		os.Remove(b)
	}
	syncDir(s.dir)
}
