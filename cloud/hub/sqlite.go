package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"

	"github.com/fitmirror/fitmirror/internal/privfile"
)

// SQLite is the Store of a single hub instance: one SQLite file in WAL mode.
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

const schema = `
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
`

// migrations bring an older database up to date; each runs when its column is missing.
var migrations = []struct{ table, column, ddl string }{
	// Delivery until acknowledged: a binding published before these columns existed counts
	// as acknowledged (it was delivered under the old rules).
	{"events", "acked", `ALTER TABLE events ADD COLUMN acked INTEGER NOT NULL DEFAULT 0;
UPDATE events SET acked = published;`},
	{"events", "attempts", `ALTER TABLE events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0`},
	{"events", "next_at", `ALTER TABLE events ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0`},
}

const indexes = `
DROP INDEX IF EXISTS events_unpublished;
CREATE INDEX IF NOT EXISTS events_pending ON events(next_at) WHERE acked = 0;
CREATE INDEX IF NOT EXISTS events_binding ON events(binding_id);
`

func migrate(db *sql.DB) error {
	for _, m := range migrations {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, m.table, m.column).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := db.Exec(m.ddl); err != nil {
				return fmt.Errorf("add %s.%s: %w", m.table, m.column, err)
			}
		}
	}
	_, err := db.Exec(indexes)
	return err
}

// OpenSQLite opens (creating if needed) the database file at path.
func OpenSQLite(path string) (*SQLite, error) {
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
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: open %s: schema: %w", path, err)
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: open %s: migrate: %w", path, err)
	}
	if err := privfile.SQLite(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: open %s: %w", path, err)
	}
	return &SQLite{db: db}, nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

func ms(t time.Time) int64     { return t.UnixMilli() }
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func (s *SQLite) AddDevice(ctx context.Context, d Device) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO devices(id, token_hash, mqtt_hash, created_at) VALUES(?,?,?,?) ON CONFLICT DO NOTHING`,
		d.ID, d.TokenHash, d.MQTTHash, ms(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("hub: add device: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("hub: add device %s: %w", d.ID, ErrExists)
	}
	return nil
}

func (s *SQLite) device(ctx context.Context, where string, arg string) (Device, error) {
	var d Device
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT id, token_hash, mqtt_hash, created_at FROM devices WHERE `+where+` = ?`, arg).
		Scan(&d.ID, &d.TokenHash, &d.MQTTHash, &at)
	d.CreatedAt = fromMS(at)
	return d, notFound(err)
}

func (s *SQLite) Device(ctx context.Context, id string) (Device, error) {
	return s.device(ctx, "id", id)
}

func (s *SQLite) DeviceByToken(ctx context.Context, tokenHash string) (Device, error) {
	return s.device(ctx, "token_hash", tokenHash)
}

func (s *SQLite) PutPhoto(ctx context.Context, p Photo) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO photos(id, device_id, session_id, sha256, size, created_at) VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
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
		return false, ErrConflict
	}
	return false, nil
}

func (s *SQLite) Photo(ctx context.Context, id string) (Photo, error) {
	var p Photo
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT id, device_id, session_id, sha256, size, created_at FROM photos WHERE id = ?`, id).
		Scan(&p.ID, &p.DeviceID, &p.SessionID, &p.SHA256, &p.Size, &at)
	p.CreatedAt = fromMS(at)
	return p, notFound(err)
}

func (s *SQLite) AddScene(ctx context.Context, sc Scene) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO scenes(scene, ticket, url, photo_id, device_id, expires_at) VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		sc.Scene, sc.Ticket, sc.URL, sc.PhotoID, sc.DeviceID, ms(sc.ExpiresAt))
	if err != nil {
		return fmt.Errorf("hub: add scene: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrExists
	}
	return nil
}

func (s *SQLite) scene(ctx context.Context, col, v string) (Scene, error) {
	var sc Scene
	var exp int64
	err := s.db.QueryRowContext(ctx, `SELECT scene, ticket, url, photo_id, device_id, expires_at FROM scenes WHERE `+col+` = ? ORDER BY expires_at DESC LIMIT 1`, v).
		Scan(&sc.Scene, &sc.Ticket, &sc.URL, &sc.PhotoID, &sc.DeviceID, &exp)
	sc.ExpiresAt = fromMS(exp)
	return sc, notFound(err)
}

func (s *SQLite) Scene(ctx context.Context, scene string) (Scene, error) {
	return s.scene(ctx, "scene", scene)
}

func (s *SQLite) SceneByTicket(ctx context.Context, ticket string) (Scene, error) {
	return s.scene(ctx, "ticket", ticket)
}

func (s *SQLite) RecordEvent(ctx context.Context, e Event) (Event, bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return e, false, fmt.Errorf("hub: record event: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO events(key, binding_id, device_id, photo_id, user, payload, reply, published, at, acked, attempts, next_at) VALUES(?,?,?,?,?,?,?,0,?,0,0,?) ON CONFLICT DO NOTHING`,
		e.Key, e.BindingID, e.DeviceID, e.PhotoID, e.User, e.Payload, e.Reply, ms(e.At), ms(e.NextAt))
	if err != nil {
		return e, false, fmt.Errorf("hub: record event: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		tx.Rollback()
		old, err := s.event(ctx, e.Key)
		return old, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO viewers(photo_id, user) VALUES(?,?) ON CONFLICT DO NOTHING`, e.PhotoID, e.User); err != nil {
		return e, false, fmt.Errorf("hub: record event: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return e, false, fmt.Errorf("hub: record event: %w", err)
	}
	e.Published, e.Acked, e.Attempts = false, false, 0
	return e, true, nil
}

const eventCols = `key, binding_id, device_id, photo_id, user, payload, reply, published, at, acked, attempts, next_at`

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var at, next int64
	err := sc.Scan(&e.Key, &e.BindingID, &e.DeviceID, &e.PhotoID, &e.User, &e.Payload, &e.Reply, &e.Published, &at, &e.Acked, &e.Attempts, &next)
	e.At = fromMS(at)
	if next != 0 {
		e.NextAt = fromMS(next)
	}
	return e, notFound(err)
}

func (s *SQLite) Event(ctx context.Context, key string) (Event, error) { return s.event(ctx, key) }

func (s *SQLite) event(ctx context.Context, key string) (Event, error) {
	return scanEvent(s.db.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE key = ?`, key))
}

func (s *SQLite) MarkSent(ctx context.Context, key string, published bool, next time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE events SET attempts = attempts + 1, next_at = ?, published = published OR ? WHERE key = ?`,
		ms(next), published, key)
	if err != nil {
		return fmt.Errorf("hub: mark binding sent: %w", err)
	}
	return nil
}

func (s *SQLite) AckBindings(ctx context.Context, deviceID string, bindingIDs []string) (int, error) {
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
		res, err := tx.ExecContext(ctx, `UPDATE events SET acked = 1 WHERE binding_id = ? AND device_id = ? AND acked = 0`, id, deviceID)
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

func (s *SQLite) PendingBindings(ctx context.Context, deviceID string, due time.Time, limit int) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+eventCols+` FROM events WHERE acked = 0 AND next_at <= ? AND (? = '' OR device_id = ?) ORDER BY at, key LIMIT ?`,
		ms(due), deviceID, deviceID, limit)
	if err != nil {
		return nil, fmt.Errorf("hub: pending bindings: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *SQLite) IsViewer(ctx context.Context, photoID, user string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM viewers WHERE photo_id = ? AND user = ?`, photoID, user).Scan(&n)
	return n > 0, err
}

func (s *SQLite) Secret(ctx context.Context, name string, gen func() []byte) ([]byte, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO secrets(name, value) VALUES(?,?) ON CONFLICT DO NOTHING`, name, gen()); err != nil {
		return nil, fmt.Errorf("hub: secret %s: %w", name, err)
	}
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	return v, err
}

func (s *SQLite) StalePhotos(ctx context.Context, unscanned, scanned time.Time, limit int) ([]Photo, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT id, device_id, session_id, sha256, size, created_at FROM photos p
WHERE (NOT EXISTS (SELECT 1 FROM viewers v WHERE v.photo_id = p.id)
       AND COALESCE((SELECT max(expires_at) FROM scenes sc WHERE sc.photo_id = p.id), p.created_at) < ?)
   OR (EXISTS (SELECT 1 FROM viewers v WHERE v.photo_id = p.id) AND p.created_at < ?)
LIMIT ?`, ms(unscanned), ms(scanned), limit)
	if err != nil {
		return nil, fmt.Errorf("hub: stale photos: %w", err)
	}
	defer rows.Close()
	var out []Photo
	for rows.Next() {
		var p Photo
		var at int64
		if err := rows.Scan(&p.ID, &p.DeviceID, &p.SessionID, &p.SHA256, &p.Size, &at); err != nil {
			return nil, err
		}
		p.CreatedAt = fromMS(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *SQLite) DeletePhoto(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hub: delete photo: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM photos WHERE id = ?`, `DELETE FROM scenes WHERE photo_id = ?`, `DELETE FROM viewers WHERE photo_id = ?`} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("hub: delete photo: %w", err)
		}
	}
	return tx.Commit()
}

func (s *SQLite) PruneEvents(ctx context.Context, before time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM events WHERE at < ?`, ms(before))
	return err
}
