// Package sqlite is the hub's store of a single instance: one SQLite file in WAL mode
// (modernc.org/sqlite, pure Go), with group commit of new events and delivery marks.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/internal/groupcommit"
	"github.com/fitmirror/fitmirror/internal/privfile"
)

// Store is the hubstore.Store of a single hub instance: one SQLite file in WAL mode.
type Store struct {
	db    *sql.DB
	gc    *groupcommit.Committer[*sql.Tx]
	stmts sync.Map // query → *sql.Stmt: SQLite parses each query once, not once per call
}

var (
	_ hubstore.Store        = (*Store)(nil)
	_ hubstore.ConsoleStore = (*Store)(nil)
)

// sqliteMigrations are the schema versions in order; PRAGMA user_version counts those applied.
// Append, never edit: a database at version n gets migrations n+1… on open. Version 1 is the
// schema from before versioning (hence IF NOT EXISTS: such a database has user_version 0).
var sqliteMigrations = []func(tx *sql.Tx) error{
	1: execSQL(`
CREATE TABLE IF NOT EXISTS devices (
	id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, mqtt_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
	id TEXT PRIMARY KEY, device_id TEXT NOT NULL, session_id TEXT NOT NULL, sha256 TEXT NOT NULL,
	size INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS scenes (
	scene TEXT PRIMARY KEY, ticket TEXT NOT NULL, url TEXT NOT NULL, photo_id TEXT NOT NULL,
	device_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS scenes_ticket ON scenes(ticket);
CREATE TABLE IF NOT EXISTS events (
	key TEXT PRIMARY KEY, binding_id TEXT NOT NULL, device_id TEXT NOT NULL, photo_id TEXT NOT NULL,
	user TEXT NOT NULL, payload BLOB NOT NULL, reply BLOB NOT NULL, published INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS viewers (
	photo_id TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (photo_id, user));
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
`),
	// 2: delivery until acknowledged. A binding published before these columns existed counts
	// as acknowledged (it was delivered under the old rules). The columns are added only where
	// missing: databases of the delivery release before versioning have them at version 0.
	2: func(tx *sql.Tx) error {
		for _, c := range []struct{ column, ddl string }{
			{"acked", `ALTER TABLE events ADD COLUMN acked INTEGER NOT NULL DEFAULT 0;
UPDATE events SET acked = published;`},
			{"attempts", `ALTER TABLE events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0`},
			{"next_at", `ALTER TABLE events ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0`},
		} {
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM pragma_table_info('events') WHERE name = ?`, c.column).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				if _, err := tx.Exec(c.ddl); err != nil {
					return fmt.Errorf("add events.%s: %w", c.column, err)
				}
			}
		}
		_, err := tx.Exec(`
DROP INDEX IF EXISTS events_unpublished;
CREATE INDEX IF NOT EXISTS events_pending ON events(next_at) WHERE acked = 0;
CREATE INDEX IF NOT EXISTS events_binding ON events(binding_id);`)
		return err
	},
	// 3: claims read the due bindings in index order and stop at the limit (earliest due,
	// then oldest), instead of sorting every due binding on each claim.
	3: execSQL(`
DROP INDEX IF EXISTS events_pending;
CREATE INDEX IF NOT EXISTS events_due ON events(next_at, at, key) WHERE acked = 0;`),
	// 4: the fleet console (hubstore.ConsoleStore).
	4: execSQL(consoleSchema),
	// 5: signed software releases (their bytes are files in the releases directory), rollouts
	// and pins.
	5: execSQL(`
CREATE TABLE releases (
	version TEXT NOT NULL, arch TEXT NOT NULL, package TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
	signature TEXT NOT NULL, key_id TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (version, arch));
CREATE TABLE rollouts (id TEXT PRIMARY KEY, state TEXT NOT NULL, doc BLOB NOT NULL, rev INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE pins (device_id TEXT PRIMARY KEY, version TEXT NOT NULL);`),
	// 6: the mirrors' events as the hub hears them (timeline, funnel).
	6: execSQL(mirrorEventsSchema),
	// 7: the alert outbox and the mirrors' telemetry by minute (the console's charts).
	7: execSQL(outboxTelemetrySchema),
}

func execSQL(q string) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(q)
		return err
	}
}

// sqliteIdleConns is how many connections the pool keeps open between uses: enough for a
// burst of callbacks reading scenes and events while the group committer writes.
const sqliteIdleConns = 16

// Open opens (creating if needed) the database file at path and brings its schema up
// to date. New events and delivery marks are group-committed unless hubstore.WithoutGroupCommit.
// The file and its -wal and -shm are 0600.
func Open(path string, opts ...hubstore.Option) (*Store, error) {
	// 0600 before SQLite creates its -wal and -shm files (they take the database's mode).
	if err := privfile.SQLite(path); err != nil {
		return nil, fmt.Errorf("hub: open %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)") // a binding recorded is a binding kept
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("hub: open %s: %w", path, err)
	}
	if err := migrateSQLite(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: open %s: %w", path, err)
	}
	if err := privfile.SQLite(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: open %s: %w", path, err)
	}
	// Keep the connections: database/sql closes all but two idle ones by default, and a new
	// SQLite connection parses the schema, prepares its statements and starts with a cold
	// page cache (about an eighth of the CPU of a burst of callbacks went there).
	db.SetMaxIdleConns(sqliteIdleConns)
	s := &Store{db: db}
	s.gc = groupcommit.New(groupcommit.TxFuncs[*sql.Tx]{
		Begin:     func(ctx context.Context) (*sql.Tx, error) { return db.BeginTx(ctx, nil) },
		Commit:    func(_ context.Context, tx *sql.Tx) error { return tx.Commit() },
		Rollback:  func(tx *sql.Tx) { tx.Rollback() },
		OneWriter: true,
	}, hubstore.NewOptions(opts))
	return s, nil
}

// migrateSQLite applies the missing migrations, each in its own transaction with the version
// bump. BEGIN IMMEDIATE (the _txlock) holds the write lock, so two processes opening one file
// at once migrate it once.
func migrateSQLite(db *sql.DB) error {
	for {
		tx, err := db.Begin()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var v int
		if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate: %w", err)
		}
		last := len(sqliteMigrations) - 1
		if v > last {
			tx.Rollback()
			return fmt.Errorf("schema version %d is newer than this mirror-cloud knows (%d): run the newer release", v, last)
		}
		if v == last {
			return tx.Rollback()
		}
		if err := sqliteMigrations[v+1](tx); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
}

// Close stops the group committer and closes the database.
func (s *Store) Close() error {
	s.gc.Close()
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	return s.db.Close()
}

// prep returns the prepared statement of q, preparing it the first time.
func (s *Store) prep(ctx context.Context, q string) (*sql.Stmt, error) {
	if v, ok := s.stmts.Load(q); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if v, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.prep(ctx, q)
	if err != nil {
		return s.db.QueryRowContext(ctx, q, args...) // carries the error
	}
	return st.QueryRowContext(ctx, args...)
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.prep(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := s.prep(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (s *Store) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	st, err := s.prep(ctx, q)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	st, err := s.prep(ctx, q)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	st, err := s.prep(ctx, q)
	if err != nil {
		return tx.QueryRowContext(ctx, q, args...)
	}
	return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

// Ping reports whether the database file answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.queryRow(ctx, `SELECT 1`).Scan(&one)
}

// CommitStats counts the write transactions of RecordEvent, ClaimDue and MarkSent and the writes
// they held (their ratio is the group-commit batch size).
func (s *Store) CommitStats() hubstore.CommitStats { return s.gc.Stats() }

func ms(t time.Time) int64     { return t.UnixMilli() }
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return hubstore.ErrNotFound
	}
	return err
}

func (s *Store) AddDevice(ctx context.Context, d hubstore.Device) error {
	res, err := s.exec(ctx, `INSERT INTO devices(id, token_hash, mqtt_hash, created_at) VALUES(?,?,?,?) ON CONFLICT DO NOTHING`,
		d.ID, d.TokenHash, d.MQTTHash, ms(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("hub: add device: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("hub: add device %s: %w", d.ID, hubstore.ErrExists)
	}
	return nil
}

func (s *Store) RotateDevice(ctx context.Context, id, tokenHash, mqttHash string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE devices SET token_hash = ?, mqtt_hash = ? WHERE id = ?`, tokenHash, mqttHash, id)
	if err != nil {
		return fmt.Errorf("hub: rotate device: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("hub: rotate device %s: %w", id, hubstore.ErrNotFound)
	}
	return nil
}

func (s *Store) RemoveDevice(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM devices WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("hub: remove device: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("hub: remove device %s: %w", id, hubstore.ErrNotFound)
	}
	return nil
}

func (s *Store) device(ctx context.Context, where string, arg string) (hubstore.Device, error) {
	var d hubstore.Device
	var at int64
	err := s.queryRow(ctx, `SELECT id, token_hash, mqtt_hash, created_at FROM devices WHERE `+where+` = ?`, arg).
		Scan(&d.ID, &d.TokenHash, &d.MQTTHash, &at)
	d.CreatedAt = fromMS(at)
	return d, notFound(err)
}

func (s *Store) Device(ctx context.Context, id string) (hubstore.Device, error) {
	return s.device(ctx, "id", id)
}

func (s *Store) DeviceByToken(ctx context.Context, tokenHash string) (hubstore.Device, error) {
	return s.device(ctx, "token_hash", tokenHash)
}

func (s *Store) PutPhoto(ctx context.Context, p hubstore.Photo) (bool, error) {
	res, err := s.exec(ctx, `INSERT INTO photos(id, device_id, session_id, sha256, size, created_at) VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		p.ID, p.DeviceID, p.SessionID, p.SHA256, p.Size, ms(p.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("hub: put photo: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	old, err := s.Photo(ctx, p.ID)
	if err != nil {
		return false, err
	}
	if old.SHA256 != p.SHA256 || old.DeviceID != p.DeviceID {
		return false, hubstore.ErrConflict
	}
	return false, nil
}

func (s *Store) Photo(ctx context.Context, id string) (hubstore.Photo, error) {
	var p hubstore.Photo
	var at int64
	err := s.queryRow(ctx, `SELECT id, device_id, session_id, sha256, size, created_at FROM photos WHERE id = ?`, id).
		Scan(&p.ID, &p.DeviceID, &p.SessionID, &p.SHA256, &p.Size, &at)
	p.CreatedAt = fromMS(at)
	return p, notFound(err)
}

func (s *Store) AddScene(ctx context.Context, sc hubstore.Scene) error {
	res, err := s.exec(ctx, `INSERT INTO scenes(scene, ticket, url, photo_id, device_id, expires_at) VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		sc.Scene, sc.Ticket, sc.URL, sc.PhotoID, sc.DeviceID, ms(sc.ExpiresAt))
	if err != nil {
		return fmt.Errorf("hub: add scene: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return hubstore.ErrExists
	}
	return nil
}

func (s *Store) scene(ctx context.Context, col, v string) (hubstore.Scene, error) {
	var sc hubstore.Scene
	var exp int64
	err := s.queryRow(ctx, `SELECT scene, ticket, url, photo_id, device_id, expires_at FROM scenes WHERE `+col+` = ? ORDER BY expires_at DESC LIMIT 1`, v).
		Scan(&sc.Scene, &sc.Ticket, &sc.URL, &sc.PhotoID, &sc.DeviceID, &exp)
	sc.ExpiresAt = fromMS(exp)
	return sc, notFound(err)
}

func (s *Store) Scene(ctx context.Context, scene string) (hubstore.Scene, error) {
	return s.scene(ctx, "scene", scene)
}

func (s *Store) SceneByTicket(ctx context.Context, ticket string) (hubstore.Scene, error) {
	return s.scene(ctx, "ticket", ticket)
}

func (s *Store) RecordEvent(ctx context.Context, e hubstore.Event) (hubstore.Event, bool, error) {
	var stored hubstore.Event
	var isNew bool
	err := s.gc.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := s.txExec(ctx, tx, `INSERT INTO events(key, binding_id, device_id, photo_id, user, payload, reply, published, at, acked, attempts, next_at) VALUES(?,?,?,?,?,?,?,0,?,0,0,?) ON CONFLICT DO NOTHING`,
			e.Key, e.BindingID, e.DeviceID, e.PhotoID, e.User, e.Payload, e.Reply, ms(e.At), ms(e.NextAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			stored, isNew = hubstore.Event{}, false
			stored, err = scanEvent(s.txQueryRow(ctx, tx, `SELECT `+eventCols+` FROM events WHERE key = ?`, e.Key))
			return err
		}
		if _, err := s.txExec(ctx, tx, `INSERT INTO viewers(photo_id, user) VALUES(?,?) ON CONFLICT DO NOTHING`, e.PhotoID, e.User); err != nil {
			return err
		}
		stored, isNew = e, true
		stored.Published, stored.Acked, stored.Attempts = false, false, 0
		stored.At = fromMS(ms(e.At))
		if !e.NextAt.IsZero() {
			stored.NextAt = fromMS(ms(e.NextAt))
		}
		return nil
	})
	if err != nil {
		return e, false, fmt.Errorf("hub: record event: %w", err)
	}
	return stored, isNew, nil
}

const eventCols = `key, binding_id, device_id, photo_id, user, payload, reply, published, at, acked, attempts, next_at`

func scanEvent(sc interface{ Scan(...any) error }) (hubstore.Event, error) {
	var e hubstore.Event
	var at, next int64
	err := sc.Scan(&e.Key, &e.BindingID, &e.DeviceID, &e.PhotoID, &e.User, &e.Payload, &e.Reply, &e.Published, &at, &e.Acked, &e.Attempts, &next)
	e.At = fromMS(at)
	if next != 0 {
		e.NextAt = fromMS(next)
	}
	return e, notFound(err)
}

func (s *Store) Event(ctx context.Context, key string) (hubstore.Event, error) {
	return s.event(ctx, key)
}

func (s *Store) event(ctx context.Context, key string) (hubstore.Event, error) {
	return scanEvent(s.queryRow(ctx, `SELECT `+eventCols+` FROM events WHERE key = ?`, key))
}

func (s *Store) MarkSent(ctx context.Context, key string, published bool, next time.Time) error {
	err := s.gc.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := s.txExec(ctx, tx, `UPDATE events SET attempts = attempts + 1, next_at = ?, published = published OR ? WHERE key = ?`,
			ms(next), published, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("hub: mark binding sent: %w", err)
	}
	return nil
}

// sqliteClaimDue moves the next attempt of the due bindings it takes (earliest due, then
// oldest: the order of the events_due index, so no sort) to the claim's end.
const sqliteClaimDue = `UPDATE events SET next_at = ? WHERE key IN (
	SELECT key FROM events WHERE acked = 0 AND next_at <= ? ORDER BY next_at, at, key LIMIT ?) RETURNING ` + eventCols

func (s *Store) ClaimDue(ctx context.Context, due, until time.Time, limit int) ([]hubstore.Event, error) {
	var out []hubstore.Event
	err := s.gc.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = out[:0]
		rows, err := s.txQuery(ctx, tx, sqliteClaimDue, ms(until), ms(due), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("hub: claim due bindings: %w", err)
	}
	hubstore.SortEvents(out)
	return out, nil
}

func (s *Store) AckBindings(ctx context.Context, deviceID string, bindingIDs []string) (int, error) {
	if len(bindingIDs) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("hub: ack bindings: %w", err)
	}
	defer tx.Rollback()
	n := 0
	for _, id := range bindingIDs {
		res, err := s.txExec(ctx, tx, `UPDATE events SET acked = 1 WHERE binding_id = ? AND device_id = ? AND acked = 0`, id, deviceID)
		if err != nil {
			return 0, fmt.Errorf("hub: ack bindings: %w", err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("hub: ack bindings: %w", err)
	}
	return n, nil
}

func (s *Store) PendingBindings(ctx context.Context, deviceID string, due time.Time, limit int) ([]hubstore.Event, error) {
	rows, err := s.query(ctx, `SELECT `+eventCols+` FROM events WHERE acked = 0 AND next_at <= ? AND (? = '' OR device_id = ?) ORDER BY at, key LIMIT ?`,
		ms(due), deviceID, deviceID, limit)
	if err != nil {
		return nil, fmt.Errorf("hub: pending bindings: %w", err)
	}
	defer rows.Close()
	var out []hubstore.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) IsViewer(ctx context.Context, photoID, user string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM viewers WHERE photo_id = ? AND user = ?`, photoID, user).Scan(&n)
	return n > 0, err
}

func (s *Store) Secret(ctx context.Context, name string, gen func() []byte) ([]byte, error) {
	if _, err := s.exec(ctx, `INSERT INTO secrets(name, value) VALUES(?,?) ON CONFLICT DO NOTHING`, name, gen()); err != nil {
		return nil, fmt.Errorf("hub: secret %s: %w", name, err)
	}
	var v []byte
	err := s.queryRow(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	return v, err
}

func (s *Store) StalePhotos(ctx context.Context, unscanned, scanned time.Time, limit int) ([]hubstore.Photo, error) {
	rows, err := s.query(ctx, `
SELECT id, device_id, session_id, sha256, size, created_at FROM photos p
WHERE (NOT EXISTS (SELECT 1 FROM viewers v WHERE v.photo_id = p.id)
       AND COALESCE((SELECT max(expires_at) FROM scenes sc WHERE sc.photo_id = p.id), p.created_at) < ?)
   OR (EXISTS (SELECT 1 FROM viewers v WHERE v.photo_id = p.id) AND p.created_at < ?)
LIMIT ?`, ms(unscanned), ms(scanned), limit)
	if err != nil {
		return nil, fmt.Errorf("hub: stale photos: %w", err)
	}
	return scanPhotos(rows)
}

// scanPhotos reads rows of id, device_id, session_id, sha256, size, created_at and closes them.
func scanPhotos(rows *sql.Rows) ([]hubstore.Photo, error) {
	defer rows.Close()
	var out []hubstore.Photo
	for rows.Next() {
		var p hubstore.Photo
		var at int64
		if err := rows.Scan(&p.ID, &p.DeviceID, &p.SessionID, &p.SHA256, &p.Size, &at); err != nil {
			return nil, err
		}
		p.CreatedAt = fromMS(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *Store) DeletePhoto(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hub: delete photo: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM photos WHERE id = ?`, `DELETE FROM scenes WHERE photo_id = ?`, `DELETE FROM viewers WHERE photo_id = ?`} {
		if _, err := s.txExec(ctx, tx, q, id); err != nil {
			return fmt.Errorf("hub: delete photo: %w", err)
		}
	}
	return tx.Commit()
}

func (s *Store) PruneEvents(ctx context.Context, before time.Time) error {
	_, err := s.exec(ctx, `DELETE FROM events WHERE at < ?`, ms(before))
	return err
}
