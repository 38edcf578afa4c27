package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
)

// A database made before the schema was versioned (user_version 0, no delivery columns)
// opens, keeps its rows, and counts its published bindings as acknowledged; opening again
// changes nothing; a database from a newer release is refused with a clear error.
func TestSQLiteMigratesOlderDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`
CREATE TABLE devices (id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, mqtt_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE photos (id TEXT PRIMARY KEY, device_id TEXT NOT NULL, session_id TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE scenes (scene TEXT PRIMARY KEY, ticket TEXT NOT NULL, url TEXT NOT NULL, photo_id TEXT NOT NULL, device_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX scenes_ticket ON scenes(ticket);
CREATE TABLE events (key TEXT PRIMARY KEY, binding_id TEXT NOT NULL, device_id TEXT NOT NULL, photo_id TEXT NOT NULL,
	user TEXT NOT NULL, payload BLOB NOT NULL, reply BLOB NOT NULL, published INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE INDEX events_unpublished ON events(published) WHERE published = 0;
CREATE TABLE viewers (photo_id TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (photo_id, user));
CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
INSERT INTO devices VALUES('m1', 'tok', 'mq', 1000);
INSERT INTO events VALUES('k1', 'B1', 'm1', 'P1', 'u1', x'7b7d', x'3c786d6c2f3e', 1, 2000);
INSERT INTO events VALUES('k2', 'B2', 'm1', 'P1', 'u2', x'7b7d', x'3c786d6c2f3e', 0, 3000);
`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		st, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := st.Device(t.Context(), "m1"); err != nil || d.TokenHash != "tok" {
			t.Errorf("device after migration = %+v, %v", d, err)
		}
		if e, _ := st.Event(t.Context(), "k1"); !e.Acked || !e.Published {
			t.Errorf("published k1 after migration: acked %v, want acknowledged", e.Acked)
		}
		p, err := st.PendingBindings(t.Context(), "m1", time.Now(), 10)
		if err != nil || len(p) != 1 || p[0].Key != "k2" {
			t.Errorf("pending after migration = %v, %v; want k2 (never published)", p, err)
		}
		st.Close()
	}
	db, _ = sql.Open("sqlite", "file:"+path)
	var v int
	db.QueryRow(`PRAGMA user_version`).Scan(&v)
	if v < 2 {
		t.Errorf("user_version = %d after open, want the latest", v)
	}
	db.Exec(`PRAGMA user_version = 999`)
	db.Close()
	if _, err := sqlite.Open(path); err == nil || !contains(err.Error(), "schema version 999 is newer") {
		t.Errorf("open of a newer database = %v, want a clear refusal", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
