package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.Transfer = (*Store)(nil)

// EachRecord lists every row, table by table: secrets, devices, photos, scenes, events, viewers.
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
	default:
		return false, fmt.Errorf("hub: restore: empty record")
	}
	tag, err := p.pool.Exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("hub: restore: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
