// Package postgres is the hub's store that replicas share: everything the hub keeps, photos'
// bytes included (Store.Blobs), in one PostgreSQL database (15 or newer), with group commit
// of new events and delivery marks. pgtest runs a real server for its tests.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/internal/groupcommit"
)

// Store is the hubstore.Store that replicas share: everything the hub keeps, in one PostgreSQL
// database (15 or newer). Exactly-once holds across replicas because every "first one wins"
// is a unique key and INSERT … ON CONFLICT, decided by the database.
type Store struct {
	pool *pgxpool.Pool
	gc   *groupcommit.Committer[pgx.Tx]
}

var (
	_ hubstore.Store        = (*Store)(nil)
	_ hubstore.ConsoleStore = (*Store)(nil)
)

// pgMigrations are the schema versions in order; schema_migrations records those applied.
// Append, never edit. Times are timestamptz at millisecond precision (what the SQLite store
// keeps), so that an export moves them unchanged.
var pgMigrations = []string{
	1: `
CREATE TABLE devices (
	id text PRIMARY KEY, token_hash text NOT NULL UNIQUE, mqtt_hash text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE photos (
	id text PRIMARY KEY, device_id text NOT NULL, session_id text NOT NULL, sha256 text NOT NULL,
	size bigint NOT NULL, created_at timestamptz NOT NULL);
CREATE INDEX photos_created ON photos(created_at);
CREATE TABLE photo_blobs (key text PRIMARY KEY, data bytea NOT NULL);
CREATE TABLE scenes (
	scene text PRIMARY KEY, ticket text NOT NULL, url text NOT NULL, photo_id text NOT NULL,
	device_id text NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX scenes_ticket ON scenes(ticket);
CREATE INDEX scenes_photo ON scenes(photo_id);
CREATE TABLE events (
	key text PRIMARY KEY, binding_id text NOT NULL, device_id text NOT NULL, photo_id text NOT NULL,
	user_hash text NOT NULL, payload bytea NOT NULL, reply bytea NOT NULL, at timestamptz NOT NULL,
	published boolean NOT NULL DEFAULT false, acked boolean NOT NULL DEFAULT false,
	attempts integer NOT NULL DEFAULT 0, next_at timestamptz NOT NULL);
CREATE INDEX events_pending ON events(next_at) WHERE NOT acked;
CREATE INDEX events_binding ON events(binding_id);
CREATE INDEX events_at ON events(at);
CREATE TABLE viewers (photo_id text NOT NULL, user_hash text NOT NULL, PRIMARY KEY (photo_id, user_hash));
CREATE TABLE secrets (name text PRIMARY KEY, value bytea NOT NULL);
`,
	// 2: claims read the due bindings in index order and stop at the limit (earliest due,
	// then oldest), instead of sorting every due binding on each claim.
	2: `
DROP INDEX events_pending;
CREATE INDEX events_due ON events(next_at, at, key) WHERE NOT acked;
`,
	// 3: the fleet console (hubstore.ConsoleStore).
	3: pgConsoleSchema,
	// 4: signed software releases, large files (their bytes) in chunks, rollouts and pins.
	4: `
CREATE TABLE releases (
	version text NOT NULL, arch text NOT NULL, package text NOT NULL, sha256 text NOT NULL, size bigint NOT NULL,
	signature text NOT NULL, key_id text NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (version, arch));
CREATE TABLE file_chunks (key text NOT NULL, n integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (key, n));
CREATE TABLE files (key text PRIMARY KEY, size bigint NOT NULL, sha256 text NOT NULL);
CREATE TABLE rollouts (id text PRIMARY KEY, state text NOT NULL, doc bytea NOT NULL, rev bigint NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE pins (device_id text PRIMARY KEY, version text NOT NULL);
`,
	// 5: the mirrors' events as the hub hears them (timeline, funnel).
	5: pgMirrorEventsSchema,
	// 6: the alert outbox and the mirrors' telemetry by minute (the console's charts).
	6: pgOutboxTelemetrySchema,
}

// SchemaVersion is the schema version this release migrates to.
var SchemaVersion = len(pgMigrations) - 1

// pgLockKey is the advisory lock the migrations run under ("fitmirror hub").
const pgLockKey = 0x66_69_74_6d_68_75_62

// Open connects to url (postgres://user:pass@host:5432/db?sslmode=…) and brings the
// schema up to date under an advisory lock, so that replicas starting together migrate once.
// New events and published marks are group-committed unless hubstore.WithoutGroupCommit.
func Open(ctx context.Context, url string, opts ...hubstore.Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	if err := migratePostgres(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s: %w", redactURL(cfg), err)
	}
	p := &Store{pool: pool}
	p.gc = groupcommit.New(groupcommit.TxFuncs[pgx.Tx]{
		Begin:     func(ctx context.Context) (pgx.Tx, error) { return pool.Begin(ctx) },
		Commit:    func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) },
		Rollback:  func(tx pgx.Tx) { tx.Rollback(context.Background()) },
		Retryable: pgRetryable,
	}, hubstore.NewOptions(opts))
	return p, nil
}

func redactURL(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// migratePostgres applies the missing migrations, each in a transaction with its version row,
// while holding a session advisory lock (released if the connection dies).
func migratePostgres(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, pgLockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, pgLockKey)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	last := len(pgMigrations) - 1
	if v > last {
		return fmt.Errorf("schema version %d is newer than this mirror-cloud knows (%d): run the newer release", v, last)
	}
	for ; v < last; v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, pgMigrations[v+1]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version) VALUES($1)`, v+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return nil
}

// Close stops the group committer and closes the connections.
func (p *Store) Close() error {
	p.gc.Close()
	p.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (p *Store) Ping(ctx context.Context) error { return p.pool.Ping(ctx) }

// CommitStats counts the write transactions of RecordEvent, ClaimDue and MarkSent and the writes
// they held.
func (p *Store) CommitStats() hubstore.CommitStats { return p.gc.Stats() }

// SchemaVersion is the newest migration applied.
func (p *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := p.pool.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

func msTime(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

func pgNotFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return hubstore.ErrNotFound
	}
	return err
}

func (p *Store) AddDevice(ctx context.Context, d hubstore.Device) error {
	tag, err := p.pool.Exec(ctx, `INSERT INTO devices(id, token_hash, mqtt_hash, created_at) VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING`,
		d.ID, d.TokenHash, d.MQTTHash, msTime(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("hub: add device: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("hub: add device %s: %w", d.ID, hubstore.ErrExists)
	}
	return nil
}

func (p *Store) RotateDevice(ctx context.Context, id, tokenHash, mqttHash string) error {
	tag, err := p.pool.Exec(ctx, `UPDATE devices SET token_hash = $1, mqtt_hash = $2 WHERE id = $3`, tokenHash, mqttHash, id)
	if err != nil {
		return fmt.Errorf("hub: rotate device: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("hub: rotate device %s: %w", id, hubstore.ErrNotFound)
	}
	return nil
}

func (p *Store) RemoveDevice(ctx context.Context, id string) error {
	tag, err := p.pool.Exec(ctx, `DELETE FROM devices WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("hub: remove device: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("hub: remove device %s: %w", id, hubstore.ErrNotFound)
	}
	return nil
}

func (p *Store) device(ctx context.Context, col, v string) (hubstore.Device, error) {
	var d hubstore.Device
	err := p.pool.QueryRow(ctx, `SELECT id, token_hash, mqtt_hash, created_at FROM devices WHERE `+col+` = $1`, v).
		Scan(&d.ID, &d.TokenHash, &d.MQTTHash, &d.CreatedAt)
	d.CreatedAt = d.CreatedAt.UTC()
	return d, pgNotFound(err)
}

func (p *Store) Device(ctx context.Context, id string) (hubstore.Device, error) {
	return p.device(ctx, "id", id)
}

func (p *Store) DeviceByToken(ctx context.Context, tokenHash string) (hubstore.Device, error) {
	return p.device(ctx, "token_hash", tokenHash)
}

func (p *Store) PutPhoto(ctx context.Context, ph hubstore.Photo) (bool, error) {
	tag, err := p.pool.Exec(ctx, `INSERT INTO photos(id, device_id, session_id, sha256, size, created_at) VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`,
		ph.ID, ph.DeviceID, ph.SessionID, ph.SHA256, ph.Size, msTime(ph.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("hub: put photo: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	old, err := p.Photo(ctx, ph.ID)
	if err != nil {
		return false, err
	}
	if old.SHA256 != ph.SHA256 || old.DeviceID != ph.DeviceID {
		return false, hubstore.ErrConflict
	}
	return false, nil
}

const pgPhotoCols = `id, device_id, session_id, sha256, size, created_at`

func scanPhoto(sc interface{ Scan(...any) error }) (hubstore.Photo, error) {
	var ph hubstore.Photo
	err := sc.Scan(&ph.ID, &ph.DeviceID, &ph.SessionID, &ph.SHA256, &ph.Size, &ph.CreatedAt)
	ph.CreatedAt = ph.CreatedAt.UTC()
	return ph, pgNotFound(err)
}

func (p *Store) Photo(ctx context.Context, id string) (hubstore.Photo, error) {
	return scanPhoto(p.pool.QueryRow(ctx, `SELECT `+pgPhotoCols+` FROM photos WHERE id = $1`, id))
}

func (p *Store) AddScene(ctx context.Context, sc hubstore.Scene) error {
	tag, err := p.pool.Exec(ctx, `INSERT INTO scenes(scene, ticket, url, photo_id, device_id, expires_at) VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`,
		sc.Scene, sc.Ticket, sc.URL, sc.PhotoID, sc.DeviceID, msTime(sc.ExpiresAt))
	if err != nil {
		return fmt.Errorf("hub: add scene: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return hubstore.ErrExists
	}
	return nil
}

func (p *Store) scene(ctx context.Context, col, v string) (hubstore.Scene, error) {
	var sc hubstore.Scene
	err := p.pool.QueryRow(ctx, `SELECT scene, ticket, url, photo_id, device_id, expires_at FROM scenes WHERE `+col+` = $1 ORDER BY expires_at DESC LIMIT 1`, v).
		Scan(&sc.Scene, &sc.Ticket, &sc.URL, &sc.PhotoID, &sc.DeviceID, &sc.ExpiresAt)
	sc.ExpiresAt = sc.ExpiresAt.UTC()
	return sc, pgNotFound(err)
}

func (p *Store) Scene(ctx context.Context, scene string) (hubstore.Scene, error) {
	return p.scene(ctx, "scene", scene)
}

func (p *Store) SceneByTicket(ctx context.Context, ticket string) (hubstore.Scene, error) {
	return p.scene(ctx, "ticket", ticket)
}

const pgEventCols = `key, binding_id, device_id, photo_id, user_hash, payload, reply, published, at, acked, attempts, next_at`

func scanPGEvent(sc interface{ Scan(...any) error }) (hubstore.Event, error) {
	var e hubstore.Event
	err := sc.Scan(&e.Key, &e.BindingID, &e.DeviceID, &e.PhotoID, &e.User, &e.Payload, &e.Reply, &e.Published, &e.At, &e.Acked, &e.Attempts, &e.NextAt)
	e.At = e.At.UTC()
	e.NextAt = pgTime(e.NextAt)
	return e, pgNotFound(err)
}

// pgTime is a time read back: UTC, and Go's zero time (stored as 0001-01-01) zero again.
func pgTime(t time.Time) time.Time {
	if t.Equal(time.Time{}) {
		return time.Time{}
	}
	return t.UTC()
}

// RecordEvent inserts the event and its viewer in one statement; when the key is taken (by
// this replica or another, committed before this statement could insert) it reads the stored
// event in the next statement, which sees what the other transaction committed.
func (p *Store) RecordEvent(ctx context.Context, e hubstore.Event) (hubstore.Event, bool, error) {
	var stored hubstore.Event
	var isNew bool
	err := p.gc.Do(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, `
WITH ins AS (
	INSERT INTO events(key, binding_id, device_id, photo_id, user_hash, payload, reply, at, next_at)
	VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (key) DO NOTHING RETURNING photo_id, user_hash),
v AS (INSERT INTO viewers(photo_id, user_hash) SELECT photo_id, user_hash FROM ins ON CONFLICT DO NOTHING)
SELECT count(*) FROM ins`, e.Key, e.BindingID, e.DeviceID, e.PhotoID, e.User, e.Payload, e.Reply, msTime(e.At), msTime(e.NextAt)).Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			stored, isNew = hubstore.Event{}, false
			stored, err = scanPGEvent(tx.QueryRow(ctx, `SELECT `+pgEventCols+` FROM events WHERE key = $1`, e.Key))
			return err
		}
		stored, isNew = e, true
		stored.Published, stored.Acked, stored.Attempts = false, false, 0
		stored.At, stored.NextAt = msTime(e.At), pgTime(msTime(e.NextAt))
		return nil
	})
	if err != nil {
		return e, false, fmt.Errorf("hub: record event: %w", err)
	}
	return stored, isNew, nil
}

func (p *Store) Event(ctx context.Context, key string) (hubstore.Event, error) {
	return scanPGEvent(p.pool.QueryRow(ctx, `SELECT `+pgEventCols+` FROM events WHERE key = $1`, key))
}

func (p *Store) PendingBindings(ctx context.Context, deviceID string, due time.Time, limit int) ([]hubstore.Event, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+pgEventCols+` FROM events WHERE NOT acked AND next_at <= $1 AND ($2 = '' OR device_id = $2) ORDER BY at, key LIMIT $3`,
		msTime(due), deviceID, limit)
	if err != nil {
		return nil, fmt.Errorf("hub: pending bindings: %w", err)
	}
	defer rows.Close()
	var out []hubstore.Event
	for rows.Next() {
		e, err := scanPGEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (p *Store) ClaimDue(ctx context.Context, due, until time.Time, limit int) ([]hubstore.Event, error) {
	var out []hubstore.Event
	err := p.gc.Do(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = out[:0]
		// SKIP LOCKED: replicas claiming at once take different bindings, without waiting.
		rows, err := tx.Query(ctx, `UPDATE events SET next_at = $1 WHERE key IN (
	SELECT key FROM events WHERE NOT acked AND next_at <= $2 ORDER BY next_at, at, key LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING `+pgEventCols,
			msTime(until), msTime(due), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanPGEvent(rows)
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

func (p *Store) MarkSent(ctx context.Context, key string, published bool, next time.Time) error {
	err := p.gc.Do(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE events SET attempts = attempts + 1, next_at = $1, published = published OR $2 WHERE key = $3`,
			msTime(next), published, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("hub: mark binding sent: %w", err)
	}
	return nil
}

func (p *Store) AckBindings(ctx context.Context, deviceID string, bindingIDs []string) (int, error) {
	if len(bindingIDs) == 0 {
		return 0, nil
	}
	// The rows are locked in key order, and a deadlock with a batch of the delivery loop's
	// writes (which touch the same rows in their own order) is retried: PostgreSQL aborts one
	// side of it, and the acknowledgement is idempotent.
	var n int
	err := retryDeadlock(ctx, func() error {
		tag, err := p.pool.Exec(ctx, `UPDATE events SET acked = true WHERE key IN (
	SELECT key FROM events WHERE binding_id = ANY($1) AND device_id = $2 AND NOT acked ORDER BY key FOR UPDATE)`, bindingIDs, deviceID)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("hub: ack bindings: %w", err)
	}
	return n, nil
}

// retryDeadlock runs fn again (up to five tries, a few milliseconds apart) while PostgreSQL
// aborts it as one side of a deadlock (40P01) or a serialization failure (40001).
func retryDeadlock(ctx context.Context, fn func() error) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = fn(); err == nil || !pgRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(5*(try+1)) * time.Millisecond):
		}
	}
	return err
}

// pgRetryable reports whether PostgreSQL aborted a transaction as one side of a deadlock
// (40P01) or a serialization failure (40001): running it again is expected to succeed.
func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

func (p *Store) IsViewer(ctx context.Context, photoID, user string) (bool, error) {
	var ok bool
	err := p.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM viewers WHERE photo_id = $1 AND user_hash = $2)`, photoID, user).Scan(&ok)
	return ok, err
}

func (p *Store) Secret(ctx context.Context, name string, gen func() []byte) ([]byte, error) {
	if _, err := p.pool.Exec(ctx, `INSERT INTO secrets(name, value) VALUES($1,$2) ON CONFLICT DO NOTHING`, name, gen()); err != nil {
		return nil, fmt.Errorf("hub: secret %s: %w", name, err)
	}
	var v []byte
	err := p.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
	return v, err
}

func (p *Store) StalePhotos(ctx context.Context, unscanned, scanned time.Time, limit int) ([]hubstore.Photo, error) {
	rows, err := p.pool.Query(ctx, `
SELECT `+pgPhotoCols+` FROM photos p
WHERE (NOT EXISTS (SELECT 1 FROM viewers v WHERE v.photo_id = p.id)
       AND COALESCE((SELECT max(expires_at) FROM scenes sc WHERE sc.photo_id = p.id), p.created_at) < $1)
   OR (EXISTS (SELECT 1 FROM viewers v WHERE v.photo_id = p.id) AND p.created_at < $2)
LIMIT $3`, msTime(unscanned), msTime(scanned), limit)
	if err != nil {
		return nil, fmt.Errorf("hub: stale photos: %w", err)
	}
	defer rows.Close()
	var out []hubstore.Photo
	for rows.Next() {
		ph, err := scanPhoto(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ph)
	}
	return out, rows.Err()
}

func (p *Store) DeletePhoto(ctx context.Context, id string) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for _, q := range []string{`DELETE FROM photos WHERE id = $1`, `DELETE FROM scenes WHERE photo_id = $1`, `DELETE FROM viewers WHERE photo_id = $1`} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return fmt.Errorf("hub: delete photo: %w", err)
			}
		}
		return nil
	})
}

func (p *Store) PruneEvents(ctx context.Context, before time.Time) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM events WHERE at < $1`, msTime(before))
	return err
}

// Blobs keeps the photos' bytes in the database (bytea), where every replica reads them.
func (p *Store) Blobs() hubstore.Blobs { return pgBlobs{p.pool} }

type pgBlobs struct{ pool *pgxpool.Pool }

func (b pgBlobs) Put(ctx context.Context, key string, data []byte) error {
	_, err := b.pool.Exec(ctx, `INSERT INTO photo_blobs(key, data) VALUES($1,$2) ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data`, key, data)
	if err != nil {
		return fmt.Errorf("hub: store photo bytes: %w", err)
	}
	return nil
}

func (b pgBlobs) Get(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := b.pool.QueryRow(ctx, `SELECT data FROM photo_blobs WHERE key = $1`, key).Scan(&data)
	return data, pgNotFound(err)
}

func (b pgBlobs) Delete(ctx context.Context, key string) error {
	_, err := b.pool.Exec(ctx, `DELETE FROM photo_blobs WHERE key = $1`, key)
	return err
}
