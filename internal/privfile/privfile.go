// Package privfile keeps the project's SQLite databases private to their user: the database
// file and its -wal and -shm companions are 0600. SQLite creates the companions with the
// database file's mode, so the file is created 0600 before SQLite first opens it, and files
// left 0644 by an earlier version are tightened.
package privfile

import (
	"errors"
	"io/fs"
	"os"
)

// SQLite creates path with mode 0600 when it does not exist and sets 0600 on it and on its
// -wal, -shm and -journal files when they do.
func SQLite(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
