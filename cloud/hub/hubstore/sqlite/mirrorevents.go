package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.MirrorEventStore = (*Store)(nil)

// mirrorEventsSchema is migration 6.
const mirrorEventsSchema = `
CREATE TABLE mirror_events (
	device_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, at INTEGER NOT NULL,
	session_id TEXT NOT NULL, photo_id TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (device_id, seq));
CREATE INDEX mirror_events_at ON mirror_events(at);
CREATE INDEX events_at ON events(at);`

func (s *Store) AddMirrorEvent(ctx context.Context, e hubstore.MirrorEvent) (bool, error) {
	res, err := s.exec(ctx, `INSERT INTO mirror_events(device_id, seq, id, type, at, session_id, photo_id, data) VALUES(?,?,?,?,?,?,?,?)
ON CONFLICT DO NOTHING`, e.Device, int64(e.Seq), e.ID, e.Type, ms(e.At), e.SessionID, e.PhotoID, e.Data)
	if err != nil {
		return false, fmt.Errorf("hub: add mirror event: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *Store) MirrorEvents(ctx context.Context, device string, limit int) ([]hubstore.MirrorEvent, error) {
	rows, err := s.query(ctx, `SELECT device_id, seq, id, type, at, session_id, photo_id, data FROM mirror_events
WHERE device_id = ? ORDER BY seq DESC LIMIT ?`, device, limit)
	if err != nil {
		return nil, fmt.Errorf("hub: mirror events: %w", err)
	}
	defer rows.Close()
	var out []hubstore.MirrorEvent
	for rows.Next() {
		var e hubstore.MirrorEvent
		var seq, at int64
		if err := rows.Scan(&e.Device, &seq, &e.ID, &e.Type, &at, &e.SessionID, &e.PhotoID, &e.Data); err != nil {
			return nil, err
		}
		e.Seq, e.At = uint64(seq), fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) Funnel(ctx context.Context, from, to time.Time) ([]hubstore.FunnelRow, error) {
	rows, err := s.query(ctx, `SELECT device_id, day, SUM(shown), SUM(scanned), SUM(bound) FROM (
	SELECT device_id, strftime('%Y-%m-%d', at / 1000, 'unixepoch') AS day, type = 'qr.shown' AS shown, 0 AS scanned,
		type = 'photo.bound' AS bound FROM mirror_events WHERE at >= ? AND at < ? AND type IN ('qr.shown', 'photo.bound')
	UNION ALL
	SELECT device_id, strftime('%Y-%m-%d', at / 1000, 'unixepoch'), 0, 1, 0 FROM events WHERE at >= ? AND at < ?
) GROUP BY device_id, day ORDER BY day, device_id`, ms(from), ms(to), ms(from), ms(to))
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

func (s *Store) PruneMirrorEvents(ctx context.Context, before time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM mirror_events WHERE at < ?`, ms(before))
	return err
}
