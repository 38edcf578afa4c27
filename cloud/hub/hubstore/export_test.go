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
// line for line, delivery state, secrets and the console's tables (operators with their
// password hashes, the audit log, mirror stores, alert states) included. Copying again
// changes nothing; the moved audit log goes on after its last entry.
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
	addConsole(t, src, at)

	var before bytes.Buffer
	c, err := hubstore.Export(ctx, src, srcBlobs, &before)
	if err != nil {
		t.Fatal(err)
	}
	if c.Devices != 2 || c.Photos != 3 || c.MissingBytes != 1 || c.Scenes != 1 || c.Events != 3 || c.Viewers != 3 || c.Secrets != 1 ||
		c.Operators != 2 || c.Audit != 3 || c.MirrorStores != 1 || c.Alerts != 2 {
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
	if c, err := hubstore.Copy(ctx, src, srcBlobs, dst, dst.Blobs()); err != nil || c.Skipped != 21 || c.Events != 0 {
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
	checkConsole(t, "PostgreSQL", dst, at)
	checkConsole(t, "SQLite again", back, at)

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
	for rec, want := range map[string]string{
		`{"operator":{"Name":"x","Role":"root","Hash":"$2a$11$h"}}`: `record 1: operator x: role "root" is not viewer, operator or admin`,
		`{"operator":{"Name":"x","Role":"admin"}}`:                  "record 1: operator x: no password hash",
		`{"audit":{"seq":0,"Operator":"x"}}`:                        "record 1: audit: seq 0 is not positive",
		`{"mirror_store":{"id":"m1"}}`:                              "record 1: mirror_store: want a mirror id and a store",
		`{"alert":{"firing":true}}`:                                 "record 1: alert: no key",
	} {
		if _, err := hubstore.Import(ctx, other, hubstore.DirBlobs(t.TempDir()), strings.NewReader(rec)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("import of %s = %v, want %q", rec, err, want)
		}
	}
}

// addConsole gives a hub the console's rows: two operators, three audit entries, a mirror in
// a store, an alert firing and one recovered.
func addConsole(t *testing.T, st hubstore.ConsoleStore, at time.Time) {
	ctx := t.Context()
	for _, o := range []hubstore.Operator{{Name: "ada", Role: hubstore.RoleAdmin, Hash: "$2a$11$adahash", CreatedAt: at},
		{Name: "otto", Role: hubstore.RoleViewer, Hash: "$2a$11$ottohash", CreatedAt: at.Add(time.Second)}} {
		if err := st.AddOperator(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for i, action := range []string{"login", "cmd ping", "logout"} {
		st.AddAudit(ctx, hubstore.AuditEntry{At: at.Add(time.Duration(i) * time.Minute), Operator: "ada", Action: action, Target: "m1", Result: "ok", Remote: "10.0.0.5"})
	}
	st.SetMirrorStore(ctx, "m1", "上海 12")
	st.FlipAlert(ctx, "mirror/m1", true, at)
	st.FlipAlert(ctx, "mirror/m2", true, at)
	st.FlipAlert(ctx, "mirror/m2", false, at.Add(time.Minute))
}

// checkConsole checks that a hub that was moved holds addConsole's rows and goes on from them.
func checkConsole(t *testing.T, name string, st hubstore.ConsoleStore, at time.Time) {
	ctx := t.Context()
	if o, err := st.Operator(ctx, "ada"); err != nil || o.Hash != "$2a$11$adahash" || o.Role != hubstore.RoleAdmin || !o.CreatedAt.Equal(at) {
		t.Errorf("%s: operator ada = %+v, %v", name, o, err)
	}
	if err := st.AddAudit(ctx, hubstore.AuditEntry{At: at.Add(time.Hour), Operator: "ada", Action: "login", Result: "ok"}); err != nil {
		t.Errorf("%s: an audit entry after the move: %v", name, err)
	}
	if a, _ := st.Audit(ctx, 10); len(a) != 4 || !a[0].At.Equal(at.Add(time.Hour)) || a[3].Action != "login" || a[2].Action != "cmd ping" {
		t.Errorf("%s: audit = %+v, want the three moved entries after the new one", name, a)
	}
	if m, _ := st.MirrorStores(ctx); m["m1"] != "上海 12" || len(m) != 1 {
		t.Errorf("%s: mirror stores = %v", name, m)
	}
	if won, err := st.FlipAlert(ctx, "mirror/m1", true, at); won || err != nil {
		t.Errorf("%s: m1's alert fired again (%v, %v): its state did not move", name, won, err)
	}
	if won, _ := st.FlipAlert(ctx, "mirror/m2", false, at); won {
		t.Errorf("%s: m2's recovery sent again: its state did not move", name)
	}
}
