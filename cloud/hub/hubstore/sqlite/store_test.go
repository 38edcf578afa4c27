package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/storetest"
)

func TestStoreSQLite(t *testing.T) {
	for _, gc := range []bool{true, false} {
		name := "group-commit"
		var opts []hubstore.Option
		if !gc {
			name, opts = "one-commit-per-write", []hubstore.Option{hubstore.WithoutGroupCommit()}
		}
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) hubstore.Store {
				st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"), opts...)
				if err != nil {
					t.Fatal(err)
				}
				return st
			})
		})
	}
}

func TestReleasesSQLite(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunReleases(t, st)
	storetest.RunRollouts(t, st)
}

func TestConsoleStoreSQLite(t *testing.T) {
	storetest.RunConsole(t, func(t *testing.T) interface {
		hubstore.ConsoleStore
		Close() error
	} {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestGallerySQLite(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunGallery(t, st)
}

func TestMirrorEventsSQLite(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunMirrorEvents(t, st)
}

func TestTelemetrySQLite(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunTelemetry(t, st)
}
