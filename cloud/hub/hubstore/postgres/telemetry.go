package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.TelemetryStore = (*Store)(nil)

// pgOutboxTelemetrySchema is migration 6: the alert outbox and the mirrors' telemetry by minute.
const pgOutboxTelemetrySchema = `
CREATE TABLE console_alert_outbox (id text PRIMARY KEY, channel text NOT NULL, body bytea NOT NULL, attempts integer NOT NULL,
	created_at timestamptz NOT NULL, owner text NOT NULL, lease_until timestamptz NOT NULL);
CREATE INDEX console_alert_outbox_lease ON console_alert_outbox(lease_until);
CREATE TABLE mirror_telemetry (device_id text NOT NULL, minute bigint NOT NULL, n integer NOT NULL, fps double precision NOT NULL,
	cpu double precision NOT NULL, disk double precision NOT NULL, tn integer NOT NULL, temp double precision NOT NULL,
	PRIMARY KEY (device_id, minute));
CREATE INDEX mirror_telemetry_minute ON mirror_telemetry(minute);
`

func (p *Store) AddTelemetry(ctx context.Context, minutes []hubstore.TelemetryMinute) error {
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, m := range minutes {
			b.Queue(`INSERT INTO mirror_telemetry(device_id, minute, n, fps, cpu, disk, tn, temp) VALUES($1,$2,$3,$4,$5,$6,$7,$8)
ON CONFLICT(device_id, minute) DO UPDATE SET n = excluded.n, fps = excluded.fps, cpu = excluded.cpu, disk = excluded.disk,
	tn = excluded.tn, temp = excluded.temp WHERE excluded.n > mirror_telemetry.n`,
				m.Device, m.Minute, m.N, m.FPS, m.CPU, m.Disk, m.TN, m.Temp)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("hub: add telemetry: %w", err)
	}
	return nil
}

func (p *Store) Telemetry(ctx context.Context, device string, from time.Time) ([]hubstore.TelemetryMinute, error) {
	rows, err := p.pool.Query(ctx, `SELECT minute, n, fps, cpu, disk, tn, temp FROM mirror_telemetry WHERE device_id = $1 AND minute >= $2 ORDER BY minute`,
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

func (p *Store) PruneTelemetry(ctx context.Context, before time.Time) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM mirror_telemetry WHERE minute < $1`, before.Unix()/60)
	return err
}
