package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go

	"github.com/fitmirror/fitmirror/internal/privfile"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// DB is the mirror's index of sessions and photos and the durable outbox of events for the
// fleet, in one SQLite file (WAL, synchronous=FULL: a committed event survives kill -9 and
// power loss). Safe for concurrent use.
type DB struct {
	db       *sql.DB
	path     string
	appended chan struct{}
}

const schema = `
CREATE TABLE IF NOT EXISTS sessions (
	id         TEXT PRIMARY KEY,
	opened_at  INTEGER NOT NULL,
	closed_at  INTEGER,
	reason     TEXT,
	photos     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS photos (
	id          TEXT PRIMARY KEY,
	session_id  TEXT NOT NULL,
	captured_at INTEGER NOT NULL,
	width       INTEGER, height INTEGER, bytes INTEGER,
	state       TEXT NOT NULL,
	qr_shown_at INTEGER,
	bound_at    INTEGER,
	bound_event TEXT,
	purged_at   INTEGER
);
CREATE INDEX IF NOT EXISTS photos_live ON photos(purged_at, captured_at);
CREATE TABLE IF NOT EXISTS outbox (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL,
	type       TEXT NOT NULL,
	at         INTEGER NOT NULL,
	session_id TEXT NOT NULL DEFAULT '',
	photo_id   TEXT NOT NULL DEFAULT '',
	data       TEXT
);
`

// OpenDB opens (creating it) the database at path.
func OpenDB(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// 0600 before SQLite creates its -wal and -shm files (they take the database's mode).
	if err := privfile.SQLite(path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := privfile.SQLite(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	return &DB{db: db, path: path, appended: make(chan struct{}, 1)}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Record stores one session event: it updates the index of sessions and photos and appends
// the event to the outbox (as the wire.Event it will be published as), in one transaction. A photo.purged for a photo already purged is
// not recorded again (dup is true).
func (d *DB) Record(ctx context.Context, ev session.Event, id string) (out wire.Event, dup bool, err error) {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return wire.Event{}, false, fmt.Errorf("store: record %s: %w", ev.Type, err)
	}
	if ev.Data == nil {
		data = nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return wire.Event{}, false, fmt.Errorf("store: record %s: %w", ev.Type, err)
	}
	defer tx.Rollback()
	at := ev.At.UnixMilli()
	var res sql.Result
	switch ev.Type {
	case wire.EventSessionOpened:
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO sessions(id, opened_at) VALUES(?, ?)`, ev.SessionID, at)
	case wire.EventSessionClosed:
		var d wire.SessionClosed
		json.Unmarshal(data, &d)
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET closed_at = ?, reason = ?, photos = ? WHERE id = ?`,
			at, d.Reason, d.Photos, ev.SessionID)
	case wire.EventPhotoCaptured:
		var d wire.PhotoCaptured
		json.Unmarshal(data, &d)
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO photos(id, session_id, captured_at, width, height, bytes, state)
			VALUES(?, ?, ?, ?, ?, ?, 'captured')`, ev.PhotoID, ev.SessionID, at, d.Width, d.Height, d.Bytes)
	case wire.EventQRShown:
		_, err = tx.ExecContext(ctx, `UPDATE photos SET state = 'qr_shown', qr_shown_at = COALESCE(qr_shown_at, ?)
			WHERE id = ? AND state IN ('captured', 'uploaded', 'qr_shown', 'expired')`, at, ev.PhotoID)
	case wire.EventQRExpired:
		_, err = tx.ExecContext(ctx, `UPDATE photos SET state = 'expired' WHERE id = ? AND state = 'qr_shown'`, ev.PhotoID)
	case wire.EventPhotoBound:
		var d wire.PhotoBound
		json.Unmarshal(data, &d)
		_, err = tx.ExecContext(ctx, `UPDATE photos SET state = 'bound', bound_at = ?, bound_event = ? WHERE id = ? AND purged_at IS NULL`,
			at, d.Event, ev.PhotoID)
	case wire.EventPhotoPurged:
		res, err = tx.ExecContext(ctx, `UPDATE photos SET state = 'purged', purged_at = ? WHERE id = ? AND purged_at IS NULL`, at, ev.PhotoID)
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				var known int
				tx.QueryRowContext(ctx, `SELECT count(*) FROM photos WHERE id = ?`, ev.PhotoID).Scan(&known)
				if known > 0 {
					return wire.Event{}, true, nil // already purged: nothing new happened
				}
			}
		}
	}
	if err != nil {
		return wire.Event{}, false, fmt.Errorf("store: record %s: %w", ev.Type, err)
	}
	var dataArg any
	if data != nil {
		dataArg = string(data)
	}
	r, err := tx.ExecContext(ctx, `INSERT INTO outbox(id, type, at, session_id, photo_id, data) VALUES(?, ?, ?, ?, ?, ?)`,
		id, ev.Type, at, ev.SessionID, ev.PhotoID, dataArg)
	if err != nil {
		return wire.Event{}, false, fmt.Errorf("store: record %s: %w", ev.Type, err)
	}
	seq, _ := r.LastInsertId()
	if err := tx.Commit(); err != nil {
		return wire.Event{}, false, fmt.Errorf("store: record %s: %w", ev.Type, err)
	}
	select {
	case d.appended <- struct{}{}:
	default:
	}
	return wire.Event{Seq: uint64(seq), ID: id, Type: ev.Type, At: wire.Time{Time: time.UnixMilli(at).UTC()},
		SessionID: ev.SessionID, PhotoID: ev.PhotoID, Data: data}, false, nil
}

// OpenSession is a session with no session.closed: the agent stopped (crash, power cut, kill)
// while it was open.
type OpenSession struct {
	ID       string
	OpenedAt time.Time
	LastAt   time.Time // its last recorded event
	Photos   int
}

// OpenSessions lists the sessions never closed.
func (d *DB) OpenSessions(ctx context.Context) ([]OpenSession, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT s.id, s.opened_at,
		COALESCE((SELECT max(at) FROM outbox o WHERE o.session_id = s.id), s.opened_at),
		(SELECT count(*) FROM photos p WHERE p.session_id = s.id)
		FROM sessions s WHERE s.closed_at IS NULL ORDER BY s.opened_at`)
	if err != nil {
		return nil, fmt.Errorf("store: open sessions: %w", err)
	}
	defer rows.Close()
	var out []OpenSession
	for rows.Next() {
		var o OpenSession
		var opened, last int64
		if err := rows.Scan(&o.ID, &opened, &last, &o.Photos); err != nil {
			return nil, fmt.Errorf("store: open sessions: %w", err)
		}
		o.OpenedAt, o.LastAt = time.UnixMilli(opened).UTC(), time.UnixMilli(max(opened, last)).UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}

// Append records an event with a new ULID (see Record).
func (d *DB) Append(ctx context.Context, ev session.Event) (wire.Event, error) {
	out, _, err := d.Record(ctx, ev, NewID())
	return out, err
}

// Checkpoint copies the write-ahead log into the database and restarts it from its
// beginning, so that the next transactions overwrite the log's frames instead of growing the
// file: on a full disk, what lets the recorder keep writing into the space it has.
func (d *DB) Checkpoint(ctx context.Context) error {
	var busy, logPages, done int
	if err := d.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &logPages, &done); err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("store: checkpoint: %d of %d log pages copied; a reader holds the rest", done, logPages)
	}
	return nil
}

// Appended is signalled (coalesced) after each Append.
func (d *DB) Appended() <-chan struct{} { return d.appended }

// Pending returns up to limit outbox events with Seq > after, oldest first, mapped from
// their rows into the wire payload of mirror/{id}/events.
func (d *DB) Pending(ctx context.Context, after uint64, limit int) ([]wire.Event, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, id, type, at, session_id, photo_id, data FROM outbox
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending: %w", err)
	}
	defer rows.Close()
	var out []wire.Event
	for rows.Next() {
		var (
			e    wire.Event
			at   int64
			data sql.NullString
		)
		if err := rows.Scan(&e.Seq, &e.ID, &e.Type, &at, &e.SessionID, &e.PhotoID, &data); err != nil {
			return nil, fmt.Errorf("store: pending: %w", err)
		}
		e.At = wire.Time{Time: time.UnixMilli(at).UTC()}
		if data.Valid {
			e.Data = json.RawMessage(data.String)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Ack deletes the outbox events with Seq <= seq (they were delivered).
func (d *DB) Ack(ctx context.Context, seq uint64) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM outbox WHERE seq <= ?`, seq); err != nil {
		return fmt.Errorf("store: ack %d: %w", seq, err)
	}
	return nil
}

// Depth is the number of events waiting in the outbox.
func (d *DB) Depth(ctx context.Context) (int, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: depth: %w", err)
	}
	return n, nil
}

// TrimOutbox drops the oldest events beyond max (the fleet bound); it returns how many went.
func (d *DB) TrimOutbox(ctx context.Context, max int) (int, error) {
	r, err := d.db.ExecContext(ctx, `DELETE FROM outbox WHERE seq <= (SELECT seq FROM outbox ORDER BY seq DESC LIMIT 1 OFFSET ?)`, max)
	if err != nil {
		return 0, fmt.Errorf("store: trim outbox: %w", err)
	}
	n, _ := r.RowsAffected()
	return int(n), nil
}

// PhotoRow is a photo in the index.
type PhotoRow struct {
	ID, SessionID, State string
	CapturedAt, BoundAt  time.Time
	SessionClosed        bool // its session has ended
}

// LivePhotos lists photos not purged, oldest first.
func (d *DB) LivePhotos(ctx context.Context) ([]PhotoRow, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT p.id, p.session_id, p.state, p.captured_at, COALESCE(p.bound_at, 0),
		s.closed_at IS NOT NULL
		FROM photos p LEFT JOIN sessions s ON s.id = p.session_id
		WHERE p.purged_at IS NULL ORDER BY p.captured_at, p.id`)
	if err != nil {
		return nil, fmt.Errorf("store: live photos: %w", err)
	}
	defer rows.Close()
	var out []PhotoRow
	for rows.Next() {
		var p PhotoRow
		var captured, bound int64
		if err := rows.Scan(&p.ID, &p.SessionID, &p.State, &captured, &bound, &p.SessionClosed); err != nil {
			return nil, fmt.Errorf("store: live photos: %w", err)
		}
		p.CapturedAt = time.UnixMilli(captured).UTC()
		if bound != 0 {
			p.BoundAt = time.UnixMilli(bound).UTC()
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Analytics are the counters an operator asks for: sessions, dwell, photos per session,
// QR shown → bound conversion and time to scan; the data of the fleet's analytics command
// (docs/contracts.md §1).
type Analytics = wire.Analytics

// Analytics computes the counters over sessions opened at or after since.
func (d *DB) Analytics(ctx context.Context, since time.Time) (Analytics, error) {
	var a Analytics
	s := since.UnixMilli()
	err := d.db.QueryRowContext(ctx, `SELECT count(*), COALESCE(avg(closed_at - opened_at), 0)
		FROM sessions WHERE opened_at >= ?`, s).Scan(&a.Sessions, &a.AvgDwellMs)
	if err == nil {
		err = d.db.QueryRowContext(ctx, `SELECT count(*), count(qr_shown_at), count(bound_at),
			COALESCE(avg(CASE WHEN bound_at IS NOT NULL AND qr_shown_at IS NOT NULL THEN bound_at - qr_shown_at END), 0)
			FROM photos p JOIN sessions s ON s.id = p.session_id WHERE s.opened_at >= ?`, s).
			Scan(&a.Photos, &a.QRShown, &a.Bound, &a.AvgTimeToScanMs)
	}
	if err != nil {
		return Analytics{}, fmt.Errorf("store: analytics: %w", err)
	}
	if a.Sessions > 0 {
		a.PhotosPerSession = float64(a.Photos) / float64(a.Sessions)
	}
	if a.QRShown > 0 {
		a.Conversion = float64(a.Bound) / float64(a.QRShown)
	}
	return a, nil
}

// NewID returns a new ULID, the IDs of photos, sessions and events.
func NewID() string { return ulid.Make().String() }
