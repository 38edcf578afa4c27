package hubstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DirBlobs keeps photos as files in one directory (the single-instance default, next to the
// SQLite store). Writes are atomic and fsynced: a temporary file, renamed, the directory
// synced.
type DirBlobs string

var _ Blobs = DirBlobs("")

func (d DirBlobs) path(key string) (string, error) {
	if key == "" || strings.ContainsAny(key, `/\`) || strings.HasPrefix(key, ".") {
		return "", fmt.Errorf("hub: blob key %q", key)
	}
	return filepath.Join(string(d), key), nil
}

func (d DirBlobs) Put(_ context.Context, key string, data []byte) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(p, data)
}

func (d DirBlobs) Get(_ context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

func (d DirBlobs) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// partialPrefix names the temporary file of a write in progress.
const partialPrefix = ".upload-"

// SweepPartial removes the temporary files of writes a crash or a kill interrupted (they
// would escape retention): those last modified before cutoff, or all when all is set (at
// start, before any write of this process).
func (d DirBlobs) SweepPartial(cutoff time.Time, all bool) (int, error) {
	entries, err := os.ReadDir(string(d))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), partialPrefix) || e.IsDir() {
			continue
		}
		if info, err := e.Info(); err != nil || (!all && info.ModTime().After(cutoff)) {
			continue
		}
		if err := os.Remove(filepath.Join(string(d), e.Name())); err == nil {
			n++
		} else if !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
	}
	return n, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), partialPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
