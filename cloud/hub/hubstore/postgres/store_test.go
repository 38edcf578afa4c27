package postgres_test

import (
	"sync"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres/pgtest"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/storetest"
)

func TestStorePostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	storetest.Run(t, func(t *testing.T) hubstore.Store {
		st, err := postgres.Open(t.Context(), srv.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestBlobs(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	st, err := postgres.Open(t.Context(), srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunBlobs(t, st.Blobs())
}

// Replicas starting together on an empty database migrate it once, under the advisory lock:
// every one opens, and the schema is at the latest version.
func TestPostgresMigratesOnce(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	url := srv.NewDatabase(t)
	stores := make([]*postgres.Store, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	v, err := stores[0].SchemaVersion(t.Context())
	if err != nil || v != postgres.SchemaVersion {
		t.Errorf("schema version = %d, %v; want %d", v, err, postgres.SchemaVersion)
	}
	if _, err := postgres.Open(t.Context(), "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"); err == nil {
		t.Error("Open of an unreachable server succeeded")
	}
}

func TestReleasesAndFiles(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	st, err := postgres.Open(t.Context(), srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunReleases(t, st)
	storetest.RunRollouts(t, st)
	storetest.RunFiles(t, st.Files())
}

func TestConsoleStorePostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	storetest.RunConsole(t, func(t *testing.T) interface {
		hubstore.ConsoleStore
		Close() error
	} {
		st, err := postgres.Open(t.Context(), srv.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestGalleryPostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	st, err := postgres.Open(t.Context(), srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunGallery(t, st)
}

func TestMirrorEventsPostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	st, err := postgres.Open(t.Context(), srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunMirrorEvents(t, st)
}

func TestTelemetryPostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{NoFsync: true})
	st, err := postgres.Open(t.Context(), srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunTelemetry(t, st)
}
