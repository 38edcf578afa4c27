package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.TelemetryStore = (*Store)(nil)

// outboxTelemetrySchema is migration 7: the alert outbox and the mirrors' telemetry by minute.
const outboxTelemetrySchema = `
CREATE TABLE console_alert_outbox (id TEXT PRIMARY KEY, channel TEXT NOT NULL, body BLOB NOT NULL, attempts INTEGER NOT NULL,
	created_at INTEGER NOT NULL, owner TEXT NOT NULL, lease_until INTEGER NOT NULL);
CREATE INDEX console_alert_outbox_lease ON console_alert_outbox(lease_until);
CREATE TABLE mirror_telemetry (device_id TEXT NOT NULL, minute INTEGER NOT NULL, n INTEGER NOT NULL, fps REAL NOT NULL,
	cpu REAL NOT NULL, disk REAL NOT NULL, tn INTEGER NOT NULL, temp REAL NOT NULL, PRIMARY KEY (device_id, minute));
CREATE INDEX mirror_telemetry_minute ON mirror_telemetry(minute);`

func (s *Store) AddTelemetry(ctx context.Context, minutes []hubstore.TelemetryMinute) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hub: add telemetry: %w", err)
	}
	defer tx.Rollback()
	for _, m := range minutes {
		if _, err := s.txExec(ctx, tx, `INSERT INTO mirror_telemetry(device_id, minute, n, fps, cpu, disk, tn, temp) VALUES(?,?,?,?,?,?,?,?)
ON CONFLICT(device_id, minute) DO UPDATE SET n = excluded.n, fps = excluded.fps, cpu = excluded.cpu, disk = excluded.disk,
	tn = excluded.tn, temp = excluded.temp WHERE excluded.n > mirror_telemetry.n`,
			m.Device, m.Minute, m.N, m.FPS, m.CPU, m.Disk, m.TN, m.Temp); err != nil {
			return fmt.Errorf("hub: add telemetry: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("hub: add telemetry: %w", err)
	}
	return nil
}

func (s *Store) Telemetry(ctx context.Context, device string, from time.Time) ([]hubstore.TelemetryMinute, error) {
	rows, err := s.query(ctx, `SELECT minute, n, fps, cpu, disk, tn, temp FROM mirror_telemetry WHERE device_id = ? AND minute >= ? ORDER BY minute`,
		device, from.Unix()/60)
	if err != nil {
		return nil, fmt.Errorf("hub: telemetry: %w", err)
	}
	defer rows.Close()
	var out []hubstore.TelemetryMinute
	for rows.Next() {
		m := hubstore.TelemetryMinute{Device: device}
		if err := rows.Scan(&m.Minute, &m.N, &m.FPS, &m.CPU, &m.Disk, &m.TN, &m.Temp); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *Store) PruneTelemetry(ctx context.Context, before time.Time) error {
	_, err := s.exec(ctx, `DELETE FROM mirror_telemetry WHERE minute < ?`, before.Unix()/60)
	return err
}
