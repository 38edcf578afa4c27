package privfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSQLite(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	// Files an earlier version left world-readable.
	for _, p := range []string{db + "-wal", db + "-shm"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := SQLite(db); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", filepath.Base(p), st.Mode().Perm(), err)
		}
	}
}
