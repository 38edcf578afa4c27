package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.Transfer = (*Store)(nil)

// EachRecord lists every row, table by table: secrets, devices, photos, scenes, events,
// viewers, then the console's operators, audit log, mirror stores and alert states.
func (p *Store) EachRecord(ctx context.Context, fn func(hubstore.Record) error) error {
	type table struct {
		query string
		scan  func(pgx.Rows) (hubstore.Record, error)
	}
	tables := []table{
		{`SELECT name, value FROM secrets ORDER BY name`, func(r pgx.Rows) (hubstore.Record, error) {
			var v hubstore.Secret
			err := r.Scan(&v.Name, &v.Value)
			return hubstore.Record{Secret: &v}, err
		}},
		{`SELECT id, token_hash, mqtt_hash, created_at FROM devices ORDER BY id`, func(r pgx.Rows) (hubstore.Record, error) {
			var d hubstore.Device
			err := r.Scan(&d.ID, &d.TokenHash, &d.MQTTHash, &d.CreatedAt)
			d.CreatedAt = d.CreatedAt.UTC()
			return hubstore.Record{Device: &d}, err
		}},
		{`SELECT ` + pgPhotoCols + ` FROM photos ORDER BY created_at, id`, func(r pgx.Rows) (hubstore.Record, error) {
			ph, err := scanPhoto(r)
			return hubstore.Record{Photo: &ph}, err
		}},
		{`SELECT scene, ticket, url, photo_id, device_id, expires_at FROM scenes ORDER BY expires_at, scene`, func(r pgx.Rows) (hubstore.Record, error) {
			var sc hubstore.Scene
			err := r.Scan(&sc.Scene, &sc.Ticket, &sc.URL, &sc.PhotoID, &sc.DeviceID, &sc.ExpiresAt)
			sc.ExpiresAt = sc.ExpiresAt.UTC()
			return hubstore.Record{Scene: &sc}, err
		}},
		{`SELECT ` + pgEventCols + ` FROM events ORDER BY at, key`, func(r pgx.Rows) (hubstore.Record, error) {
			e, err := scanPGEvent(r)
			return hubstore.Record{Event: &e}, err
		}},
		{`SELECT photo_id, user_hash FROM viewers ORDER BY photo_id, user_hash`, func(r pgx.Rows) (hubstore.Record, error) {
			var v hubstore.Viewer
			err := r.Scan(&v.PhotoID, &v.User)
			return hubstore.Record{Viewer: &v}, err
		}},
		{`SELECT name, role, hash, created_at FROM console_operators ORDER BY name`, func(r pgx.Rows) (hubstore.Record, error) {
			var o hubstore.Operator
			err := r.Scan(&o.Name, &o.Role, &o.Hash, &o.CreatedAt)
			o.CreatedAt = o.CreatedAt.UTC()
			return hubstore.Record{Operator: &o}, err
		}},
		{`SELECT seq, at, operator, action, target, result, remote FROM console_audit ORDER BY seq`, func(r pgx.Rows) (hubstore.Record, error) {
			var a hubstore.AuditRecord
			err := r.Scan(&a.Seq, &a.At, &a.Operator, &a.Action, &a.Target, &a.Result, &a.Remote)
			a.At = a.At.UTC()
			return hubstore.Record{Audit: &a}, err
		}},
		{`SELECT id, store FROM console_mirror_stores ORDER BY id`, func(r pgx.Rows) (hubstore.Record, error) {
			var m hubstore.MirrorStore
			err := r.Scan(&m.ID, &m.Store)
			return hubstore.Record{MirrorStore: &m}, err
		}},
		{`SELECT key, firing, at FROM console_alerts ORDER BY key`, func(r pgx.Rows) (hubstore.Record, error) {
			var a hubstore.AlertState
			err := r.Scan(&a.Key, &a.Firing, &a.At)
			a.At = a.At.UTC()
			return hubstore.Record{Alert: &a}, err
		}},
	}
	for _, t := range tables {
		if err := p.eachRow(ctx, t.query, t.scan, fn); err != nil {
			return fmt.Errorf("hub: export: %w", err)
		}
	}
	return nil
}

func (p *Store) eachRow(ctx context.Context, q string, scan func(pgx.Rows) (hubstore.Record, error), fn func(hubstore.Record) error) error {
	rows, err := p.pool.Query(ctx, q)
	if err != nil {
		return err
	}
	// Read the table first: fn may write (a copy into the same server) and must not wait on
	// this connection.
	var recs []hubstore.Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			rows.Close()
			return err
		}
		recs = append(recs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// RestoreRecord writes one record as it is, unless its key is taken.
func (p *Store) RestoreRecord(ctx context.Context, r hubstore.Record) (bool, error) {
	var q string
	var args []any
	switch {
	case r.Secret != nil:
		q, args = `INSERT INTO secrets(name, value) VALUES($1,$2) ON CONFLICT DO NOTHING`, []any{r.Secret.Name, r.Secret.Value}
	case r.Device != nil:
		d := r.Device
		q, args = `INSERT INTO devices(id, token_hash, mqtt_hash, created_at) VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING`,
			[]any{d.ID, d.TokenHash, d.MQTTHash, msTime(d.CreatedAt)}
	case r.Photo != nil:
		ph := r.Photo
		q, args = `INSERT INTO photos(`+pgPhotoCols+`) VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`,
			[]any{ph.ID, ph.DeviceID, ph.SessionID, ph.SHA256, ph.Size, msTime(ph.CreatedAt)}
	case r.Scene != nil:
		sc := r.Scene
		q, args = `INSERT INTO scenes(scene, ticket, url, photo_id, device_id, expires_at) VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`,
			[]any{sc.Scene, sc.Ticket, sc.URL, sc.PhotoID, sc.DeviceID, msTime(sc.ExpiresAt)}
	case r.Event != nil:
		e := r.Event
		q, args = `INSERT INTO events(`+pgEventCols+`) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT DO NOTHING`,
			[]any{e.Key, e.BindingID, e.DeviceID, e.PhotoID, e.User, e.Payload, e.Reply, e.Published, msTime(e.At), e.Acked, e.Attempts, msTime(e.NextAt)}
	case r.Viewer != nil:
		q, args = `INSERT INTO viewers(photo_id, user_hash) VALUES($1,$2) ON CONFLICT DO NOTHING`, []any{r.Viewer.PhotoID, r.Viewer.User}
	case r.Operator != nil:
		o := r.Operator
		q, args = `INSERT INTO console_operators(name, role, hash, created_at) VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING`,
			[]any{o.Name, o.Role, o.Hash, msTime(o.CreatedAt)}
	case r.Audit != nil:
		return p.restoreAudit(ctx, r.Audit)
	case r.MirrorStore != nil:
		q, args = `INSERT INTO console_mirror_stores(id, store) VALUES($1,$2) ON CONFLICT DO NOTHING`, []any{r.MirrorStore.ID, r.MirrorStore.Store}
	case r.Alert != nil:
		q, args = `INSERT INTO console_alerts(key, firing, at) VALUES($1,$2,$3) ON CONFLICT DO NOTHING`, []any{r.Alert.Key, r.Alert.Firing, msTime(r.Alert.At)}
	default:
		return false, fmt.Errorf("hub: restore: empty record")
	}
	tag, err := p.pool.Exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("hub: restore: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// restoreAudit writes an audit entry with its seq and moves the sequence past it, so that
// the entries the hub adds afterwards come after it.
func (p *Store) restoreAudit(ctx context.Context, a *hubstore.AuditRecord) (bool, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("hub: restore: %w", err)
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `INSERT INTO console_audit(seq, at, operator, action, target, result, remote) VALUES($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING`,
		a.Seq, msTime(a.At), a.Operator, a.Action, a.Target, a.Result, a.Remote)
	if err != nil {
		return false, fmt.Errorf("hub: restore: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('console_audit', 'seq'), (SELECT max(seq) FROM console_audit))`); err != nil {
		return false, fmt.Errorf("hub: restore: audit sequence: %w", err)
	}
	return tag.RowsAffected() == 1, tx.Commit(ctx)
}
