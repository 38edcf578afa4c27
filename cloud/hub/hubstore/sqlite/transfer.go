package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.Transfer = (*Store)(nil)

// EachRecord lists every row, table by table: secrets, devices, photos, scenes, events,
// viewers, then the console's operators, audit log, mirror stores and alert states.
func (s *Store) EachRecord(ctx context.Context, fn func(hubstore.Record) error) error {
	type table struct {
		query string
		scan  func(*sql.Rows) (hubstore.Record, error)
	}
	tables := []table{
		{`SELECT name, value FROM secrets ORDER BY name`, func(r *sql.Rows) (hubstore.Record, error) {
			var v hubstore.Secret
			err := r.Scan(&v.Name, &v.Value)
			return hubstore.Record{Secret: &v}, err
		}},
		{`SELECT id, token_hash, mqtt_hash, created_at FROM devices ORDER BY id`, func(r *sql.Rows) (hubstore.Record, error) {
			var d hubstore.Device
			var at int64
			err := r.Scan(&d.ID, &d.TokenHash, &d.MQTTHash, &at)
			d.CreatedAt = fromMS(at)
			return hubstore.Record{Device: &d}, err
		}},
		{`SELECT id, device_id, session_id, sha256, size, created_at FROM photos ORDER BY created_at, id`, func(r *sql.Rows) (hubstore.Record, error) {
			var p hubstore.Photo
			var at int64
			err := r.Scan(&p.ID, &p.DeviceID, &p.SessionID, &p.SHA256, &p.Size, &at)
			p.CreatedAt = fromMS(at)
			return hubstore.Record{Photo: &p}, err
		}},
		{`SELECT scene, ticket, url, photo_id, device_id, expires_at FROM scenes ORDER BY expires_at, scene`, func(r *sql.Rows) (hubstore.Record, error) {
			var sc hubstore.Scene
			var exp int64
			err := r.Scan(&sc.Scene, &sc.Ticket, &sc.URL, &sc.PhotoID, &sc.DeviceID, &exp)
			sc.ExpiresAt = fromMS(exp)
			return hubstore.Record{Scene: &sc}, err
		}},
		{`SELECT ` + eventCols + ` FROM events ORDER BY at, key`, func(r *sql.Rows) (hubstore.Record, error) {
			e, err := scanEvent(r)
			return hubstore.Record{Event: &e}, err
		}},
		{`SELECT photo_id, user FROM viewers ORDER BY photo_id, user`, func(r *sql.Rows) (hubstore.Record, error) {
			var v hubstore.Viewer
			err := r.Scan(&v.PhotoID, &v.User)
			return hubstore.Record{Viewer: &v}, err
		}},
		{`SELECT name, role, hash, created_at FROM console_operators ORDER BY name`, func(r *sql.Rows) (hubstore.Record, error) {
			var o hubstore.Operator
			var at int64
			err := r.Scan(&o.Name, &o.Role, &o.Hash, &at)
			o.CreatedAt = fromMS(at)
			return hubstore.Record{Operator: &o}, err
		}},
		{`SELECT seq, at, operator, action, target, result, remote FROM console_audit ORDER BY seq`, func(r *sql.Rows) (hubstore.Record, error) {
			var a hubstore.AuditRecord
			var at int64
			err := r.Scan(&a.Seq, &at, &a.Operator, &a.Action, &a.Target, &a.Result, &a.Remote)
			a.At = fromMS(at)
			return hubstore.Record{Audit: &a}, err
		}},
		{`SELECT id, store FROM console_mirror_stores ORDER BY id`, func(r *sql.Rows) (hubstore.Record, error) {
			var m hubstore.MirrorStore
			err := r.Scan(&m.ID, &m.Store)
			return hubstore.Record{MirrorStore: &m}, err
		}},
		{`SELECT key, firing, at FROM console_alerts ORDER BY key`, func(r *sql.Rows) (hubstore.Record, error) {
			var a hubstore.AlertState
			var at int64
			err := r.Scan(&a.Key, &a.Firing, &at)
			a.At = fromMS(at)
			return hubstore.Record{Alert: &a}, err
		}},
	}
	for _, t := range tables {
		if err := s.eachRow(ctx, t.query, t.scan, fn); err != nil {
			return fmt.Errorf("hub: export: %w", err)
		}
	}
	return nil
}

func (s *Store) eachRow(ctx context.Context, q string, scan func(*sql.Rows) (hubstore.Record, error), fn func(hubstore.Record) error) error {
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// RestoreRecord writes one record as it is, unless its key is taken.
func (s *Store) RestoreRecord(ctx context.Context, r hubstore.Record) (bool, error) {
	var q string
	var args []any
	switch {
	case r.Secret != nil:
		q, args = `INSERT INTO secrets(name, value) VALUES(?,?) ON CONFLICT DO NOTHING`, []any{r.Secret.Name, r.Secret.Value}
	case r.Device != nil:
		d := r.Device
		q, args = `INSERT INTO devices(id, token_hash, mqtt_hash, created_at) VALUES(?,?,?,?) ON CONFLICT DO NOTHING`,
			[]any{d.ID, d.TokenHash, d.MQTTHash, ms(d.CreatedAt)}
	case r.Photo != nil:
		p := r.Photo
		q, args = `INSERT INTO photos(id, device_id, session_id, sha256, size, created_at) VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
			[]any{p.ID, p.DeviceID, p.SessionID, p.SHA256, p.Size, ms(p.CreatedAt)}
	case r.Scene != nil:
		sc := r.Scene
		q, args = `INSERT INTO scenes(scene, ticket, url, photo_id, device_id, expires_at) VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
			[]any{sc.Scene, sc.Ticket, sc.URL, sc.PhotoID, sc.DeviceID, ms(sc.ExpiresAt)}
	case r.Event != nil:
		e := r.Event
		q, args = `INSERT INTO events(`+eventCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
			[]any{e.Key, e.BindingID, e.DeviceID, e.PhotoID, e.User, e.Payload, e.Reply, e.Published, ms(e.At), e.Acked, e.Attempts, ms(e.NextAt)}
	case r.Viewer != nil:
		q, args = `INSERT INTO viewers(photo_id, user) VALUES(?,?) ON CONFLICT DO NOTHING`, []any{r.Viewer.PhotoID, r.Viewer.User}
	case r.Operator != nil:
		o := r.Operator
		q, args = `INSERT INTO console_operators(name, role, hash, created_at) VALUES(?,?,?,?) ON CONFLICT DO NOTHING`,
			[]any{o.Name, o.Role, o.Hash, ms(o.CreatedAt)}
	case r.Audit != nil:
		// With its seq: AUTOINCREMENT carries on after the highest one.
		a := r.Audit
		q, args = `INSERT INTO console_audit(seq, at, operator, action, target, result, remote) VALUES(?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
			[]any{a.Seq, ms(a.At), a.Operator, a.Action, a.Target, a.Result, a.Remote}
	case r.MirrorStore != nil:
		q, args = `INSERT INTO console_mirror_stores(id, store) VALUES(?,?) ON CONFLICT DO NOTHING`, []any{r.MirrorStore.ID, r.MirrorStore.Store}
	case r.Alert != nil:
		q, args = `INSERT INTO console_alerts(key, firing, at) VALUES(?,?,?) ON CONFLICT DO NOTHING`, []any{r.Alert.Key, r.Alert.Firing, ms(r.Alert.At)}
	default:
		return false, fmt.Errorf("hub: restore: empty record")
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("hub: restore: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
