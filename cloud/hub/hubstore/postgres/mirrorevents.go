package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.MirrorEventStore = (*Store)(nil)

// pgMirrorEventsSchema is migration 5.
const pgMirrorEventsSchema = `
CREATE TABLE mirror_events (
	device_id text NOT NULL, seq bigint NOT NULL, id text NOT NULL, type text NOT NULL, at timestamptz NOT NULL,
	session_id text NOT NULL, photo_id text NOT NULL, data bytea NOT NULL, PRIMARY KEY (device_id, seq));
CREATE INDEX mirror_events_at ON mirror_events(at);
`

func (p *Store) AddMirrorEvent(ctx context.Context, e hubstore.MirrorEvent) (bool, error) {
	tag, err := p.pool.Exec(ctx, `INSERT INTO mirror_events(device_id, seq, id, type, at, session_id, photo_id, data) VALUES($1,$2,$3,$4,$5,$6,$7,$8)
ON CONFLICT DO NOTHING`, e.Device, int64(e.Seq), e.ID, e.Type, msTime(e.At), e.SessionID, e.PhotoID, e.Data)
	if err != nil {
		return false, fmt.Errorf("hub: add mirror event: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (p *Store) MirrorEvents(ctx context.Context, device string, limit int) ([]hubstore.MirrorEvent, error) {
	rows, err := p.pool.Query(ctx, `SELECT device_id, seq, id, type, at, session_id, photo_id, data FROM mirror_events
WHERE device_id = $1 ORDER BY seq DESC LIMIT $2`, device, limit)
	if err != nil {
		return nil, fmt.Errorf("hub: mirror events: %w", err)
	}
	defer rows.Close()
	var out []hubstore.MirrorEvent
	for rows.Next() {
		var e hubstore.MirrorEvent
		var seq int64
		if err := rows.Scan(&e.Device, &seq, &e.ID, &e.Type, &e.At, &e.SessionID, &e.PhotoID, &e.Data); err != nil {
			return nil, err
		}
		e.Seq, e.At = uint64(seq), e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func (p *Store) Funnel(ctx context.Context, from, to time.Time) ([]hubstore.FunnelRow, error) {
	rows, err := p.pool.Query(ctx, `SELECT device_id, day, SUM(shown)::int, SUM(scanned)::int, SUM(bound)::int FROM (
	SELECT device_id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, (type = 'qr.shown')::int AS shown, 0 AS scanned,
		(type = 'photo.bound')::int AS bound FROM mirror_events WHERE at >= $1 AND at < $2 AND type IN ('qr.shown', 'photo.bound')
	UNION ALL
	SELECT device_id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 0, 1, 0 FROM events WHERE at >= $1 AND at < $2
) f GROUP BY device_id, day ORDER BY day, device_id`, msTime(from), msTime(to))
	if err != nil {
		return nil, fmt.Errorf("hub: funnel: %w", err)
	}
	defer rows.Close()
	var out []hubstore.FunnelRow
	for rows.Next() {
		var r hubstore.FunnelRow
		if err := rows.Scan(&r.Device, &r.Day, &r.QRShown, &r.Scanned, &r.Bound); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (p *Store) PruneMirrorEvents(ctx context.Context, before time.Time) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM mirror_events WHERE at < $1`, msTime(before))
	return err
}
