package hub_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/pgtest"
	"github.com/fitmirror/fitmirror/cloud/hub/s3test"
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
	t.Run("s3", func(t *testing.T) {
		b, err := hub.OpenS3(t.Context(), s3test.Start(t, "photos", "hub1"))
		if err != nil {
			t.Fatal(err)
		}
		storetest.RunBlobs(t, b)
		if _, err := hub.OpenS3(t.Context(), strings.Replace(s3test.Start(t, "photos", ""), "/photos/", "/other/", 1)); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("OpenS3 of a missing bucket = %v, want an error saying so", err)
		}
		if _, err := hub.OpenS3(t.Context(), "http://key:pw123@host/bucket"); err == nil || strings.Contains(err.Error(), "pw123") {
			t.Errorf("OpenS3 of an http URL = %v, want an error without the secret", err)
		}
	})
}

// Replicas starting together on an empty database migrate it once, under the advisory lock:
// every one opens, and the schema is at the latest version.
func TestPostgresMigratesOnce(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	url := srv.NewDatabase(t)
	stores := make([]*hub.Postgres, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = hub.OpenPostgres(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	v, err := stores[0].SchemaVersion(t.Context())
	if err != nil || v != hub.PostgresSchemaVersion {
		t.Errorf("schema version = %d, %v; want %d", v, err, hub.PostgresSchemaVersion)
	}
	if _, err := hub.OpenPostgres(t.Context(), "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"); err == nil {
		t.Error("OpenPostgres of an unreachable server succeeded")
	}
}
