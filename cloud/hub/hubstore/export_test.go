package hubstore_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres/pgtest"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
)

// A hub moves from SQLite into PostgreSQL (Copy, `mirror-cloud migrate`) and back out
// through an export and an import, losing nothing: the exports before and after are the same
// line for line, delivery state and secrets included. Copying again changes nothing.
func TestExportImportCopy(t *testing.T) {
	ctx := t.Context()
	at := time.Date(2026, 11, 30, 7, 0, 0, 123_000_000, time.UTC)
	src, err := sqlite.Open(filepath.Join(t.TempDir(), "hubstore.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	srcBlobs := hubstore.DirBlobs(t.TempDir())
	src.Secret(ctx, "user_salt", func() []byte { return []byte("salt-1") })
	src.AddDevice(ctx, hubstore.Device{ID: "m1", TokenHash: "t1", MQTTHash: "q1", CreatedAt: at})
	src.AddDevice(ctx, hubstore.Device{ID: "m2", TokenHash: "t2", MQTTHash: "q2", CreatedAt: at})
	for i, id := range []string{"P1", "P2", "P3"} {
		p := hubstore.Photo{ID: id, DeviceID: "m1", SessionID: "S1", SHA256: strings.Repeat(string(rune('a'+i)), 64), Size: 4, CreatedAt: at}
		src.PutPhoto(ctx, p)
		if id != "P3" { // P3's file is gone
			srcBlobs.Put(ctx, p.BlobKey(), []byte{0xff, 0xd8, 0xff, byte(i)})
		}
	}
	src.AddScene(ctx, hubstore.Scene{Scene: "s1", Ticket: "T1", URL: "u", PhotoID: "P1", DeviceID: "m1", ExpiresAt: at.Add(5 * time.Minute)})
	for i, k := range []string{"k1", "k2", "k3"} {
		e := hubstore.Event{Key: k, BindingID: "B" + k, DeviceID: "m1", PhotoID: "P1", User: "u" + k, Payload: []byte(`{"x":1}`), Reply: []byte("<xml/>"), At: at.Add(time.Duration(i) * time.Second)}
		src.RecordEvent(ctx, e)
	}
	src.MarkSent(ctx, "k1", true, at.Add(time.Minute))
	src.AckBindings(ctx, "m1", []string{"Bk1"})
	src.MarkSent(ctx, "k2", false, at.Add(2*time.Second))

	var before bytes.Buffer
	c, err := hubstore.Export(ctx, src, srcBlobs, &before)
	if err != nil {
		t.Fatal(err)
	}
	if c.Devices != 2 || c.Photos != 3 || c.MissingBytes != 1 || c.Scenes != 1 || c.Events != 3 || c.Viewers != 3 || c.Secrets != 1 {
		t.Errorf("export counts = %v", c)
	}

	pg := pgtest.Start(t, pgtest.Options{NoFsync: true})
	dst, err := postgres.Open(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if c, err := hubstore.Copy(ctx, src, srcBlobs, dst, dst.Blobs()); err != nil || c.Events != 3 || c.Skipped != 0 {
		t.Fatalf("Copy = %v, %v", c, err)
	}
	if c, err := hubstore.Copy(ctx, src, srcBlobs, dst, dst.Blobs()); err != nil || c.Skipped != 13 || c.Events != 0 {
		t.Errorf("Copy again = %v, %v; want everything skipped", c, err)
	}
	var mid bytes.Buffer
	if _, err := hubstore.Export(ctx, dst, dst.Blobs(), &mid); err != nil {
		t.Fatal(err)
	}
	back, err := sqlite.Open(filepath.Join(t.TempDir(), "hubstore.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	backBlobs := hubstore.DirBlobs(t.TempDir())
	if _, err := hubstore.Import(ctx, back, backBlobs, bytes.NewReader(mid.Bytes())); err != nil {
		t.Fatal(err)
	}
	var after bytes.Buffer
	hubstore.Export(ctx, back, backBlobs, &after)
	for name, got := range map[string]string{"PostgreSQL": mid.String(), "SQLite again": after.String()} {
		if got != before.String() {
			t.Errorf("export from %s differs from the original:\n%s\nwant\n%s", name, got, before.String())
		}
	}
	// The store behaves the same after the move: the pending bindings, the secret.
	p, _ := dst.PendingBindings(ctx, "m1", at.Add(time.Hour), 10)
	if len(p) != 2 || p[0].Key != "k2" || p[0].Attempts != 1 {
		t.Errorf("pending in PostgreSQL = %+v, want k2 (1 attempt) and k3", p)
	}
	if v, _ := dst.Secret(ctx, "user_salt", func() []byte { return []byte("new") }); string(v) != "salt-1" {
		t.Errorf("user_salt in PostgreSQL = %q, want the SQLite hub's", v)
	}

	// Importing into a hub that made its own secrets is refused.
	other, _ := sqlite.Open(filepath.Join(t.TempDir(), "hubstore.db"))
	defer other.Close()
	other.Secret(ctx, "user_salt", func() []byte { return []byte("salt-2") })
	if _, err := hubstore.Import(ctx, other, hubstore.DirBlobs(t.TempDir()), bytes.NewReader(before.Bytes())); err == nil || !strings.Contains(err.Error(), "another secret") {
		t.Errorf("import into a hub with its own salt = %v, want a refusal", err)
	}
	if _, err := hubstore.Import(ctx, other, hubstore.DirBlobs(t.TempDir()), strings.NewReader(`{"device":{"ID":"x"},"scene":{"Scene":"y"}}`)); err == nil {
		t.Error("import of a record with two kinds succeeded")
	}
}
