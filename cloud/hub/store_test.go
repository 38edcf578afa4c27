package hub_test

import (
	"path/filepath"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/pgtest"
	"github.com/fitmirror/fitmirror/cloud/hub/storetest"
)

func TestStoreSQLite(t *testing.T) {
	for _, gc := range []bool{true, false} {
		name := "group-commit"
		var opts []hub.StoreOption
		if !gc {
			name, opts = "one-commit-per-write", []hub.StoreOption{hub.WithoutGroupCommit()}
		}
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) hub.Store {
				st, err := hub.OpenSQLite(filepath.Join(t.TempDir(), "hub.db"), opts...)
				if err != nil {
					t.Fatal(err)
				}
				return st
			})
		})
	}
}

func TestStorePostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	storetest.Run(t, func(t *testing.T) hub.Store {
		st, err := hub.OpenPostgres(t.Context(), srv.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestBlobs(t *testing.T) {
	t.Run("dir", func(t *testing.T) { storetest.RunBlobs(t, hub.DirBlobs(t.TempDir())) })
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
		st, err := hub.OpenPostgres(t.Context(), srv.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		storetest.RunBlobs(t, st.Blobs())
	})
}
