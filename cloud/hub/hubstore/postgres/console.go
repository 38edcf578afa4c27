package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// pgConsoleSchema is migration 3: the fleet console's operators, sessions, audit log, mirror
// stores and alert states.
const pgConsoleSchema = `
CREATE TABLE console_operators (name text PRIMARY KEY, role text NOT NULL, hash text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE console_sessions (id text PRIMARY KEY, operator text NOT NULL, csrf text NOT NULL,
	created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX console_sessions_operator ON console_sessions(operator);
CREATE TABLE console_audit (seq bigserial PRIMARY KEY, at timestamptz NOT NULL, operator text NOT NULL,
	action text NOT NULL, target text NOT NULL, result text NOT NULL, remote text NOT NULL);
CREATE TABLE console_mirror_stores (id text PRIMARY KEY, store text NOT NULL);
CREATE TABLE console_alerts (key text PRIMARY KEY, firing boolean NOT NULL, at timestamptz NOT NULL);
`

func (p *Store) AddOperator(ctx context.Context, o hubstore.Operator) error {
	tag, err := p.pool.Exec(ctx, `INSERT INTO console_operators(name, role, hash, created_at) VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING`,
		o.Name, o.Role, o.Hash, msTime(o.CreatedAt))
	if err != nil {
		return fmt.Errorf("hub: add operator: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("hub: add operator %s: %w", o.Name, hubstore.ErrExists)
	}
	return nil
}

func scanOperator(row pgx.Row) (hubstore.Operator, error) {
	var o hubstore.Operator
	err := row.Scan(&o.Name, &o.Role, &o.Hash, &o.CreatedAt)
	o.CreatedAt = o.CreatedAt.UTC()
	return o, pgNotFound(err)
}

func (p *Store) Operator(ctx context.Context, name string) (hubstore.Operator, error) {
	return scanOperator(p.pool.QueryRow(ctx, `SELECT name, role, hash, created_at FROM console_operators WHERE name = $1`, name))
}

func (p *Store) Operators(ctx context.Context) ([]hubstore.Operator, error) {
	rows, err := p.pool.Query(ctx, `SELECT name, role, hash, created_at FROM console_operators ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("hub: operators: %w", err)
	}
	defer rows.Close()
	var out []hubstore.Operator
	for rows.Next() {
		o, err := scanOperator(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// operatorChange runs q (whose last argument is the operator) and deletes the operator's
// sessions, in one transaction.
func (p *Store) operatorChange(ctx context.Context, what, name, q string, args ...any) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, append(args, name)...)
		if err != nil {
			return fmt.Errorf("hub: %s: %w", what, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("hub: %s %s: %w", what, name, hubstore.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE operator = $1`, name); err != nil {
			return fmt.Errorf("hub: %s: %w", what, err)
		}
		return nil
	})
}

func (p *Store) SetOperatorHash(ctx context.Context, name, hash string) error {
	return p.operatorChange(ctx, "set operator password", name, `UPDATE console_operators SET hash = $1 WHERE name = $2`, hash)
}

func (p *Store) RemoveOperator(ctx context.Context, name string) error {
	return p.operatorChange(ctx, "remove operator", name, `DELETE FROM console_operators WHERE name = $1`)
}

func (p *Store) AddSession(ctx context.Context, cs hubstore.ConsoleSession) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO console_sessions(id, operator, csrf, created_at, expires_at) VALUES($1,$2,$3,$4,$5)`,
		cs.ID, cs.Operator, cs.CSRF, msTime(cs.CreatedAt), msTime(cs.ExpiresAt))
	if err != nil {
		return fmt.Errorf("hub: add session: %w", err)
	}
	return nil
}

func (p *Store) Session(ctx context.Context, id string, now time.Time) (hubstore.ConsoleSession, error) {
	var cs hubstore.ConsoleSession
	err := p.pool.QueryRow(ctx, `SELECT id, operator, csrf, created_at, expires_at FROM console_sessions WHERE id = $1 AND expires_at > $2`, id, now).
		Scan(&cs.ID, &cs.Operator, &cs.CSRF, &cs.CreatedAt, &cs.ExpiresAt)
	cs.CreatedAt, cs.ExpiresAt = cs.CreatedAt.UTC(), cs.ExpiresAt.UTC()
	return cs, pgNotFound(err)
}

func (p *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM console_sessions WHERE id = $1`, id)
	return err
}

func (p *Store) PruneSessions(ctx context.Context, before time.Time) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at < $1`, before)
	return err
}

func (p *Store) AddAudit(ctx context.Context, a hubstore.AuditEntry) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO console_audit(at, operator, action, target, result, remote) VALUES($1,$2,$3,$4,$5,$6)`,
		msTime(a.At), a.Operator, a.Action, a.Target, a.Result, a.Remote)
	if err != nil {
		return fmt.Errorf("hub: audit: %w", err)
	}
	return nil
}

func (p *Store) Audit(ctx context.Context, limit int) ([]hubstore.AuditEntry, error) {
	rows, err := p.pool.Query(ctx, `SELECT at, operator, action, target, result, remote FROM console_audit ORDER BY seq DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("hub: audit: %w", err)
	}
	defer rows.Close()
	var out []hubstore.AuditEntry
	for rows.Next() {
		var a hubstore.AuditEntry
		if err := rows.Scan(&a.At, &a.Operator, &a.Action, &a.Target, &a.Result, &a.Remote); err != nil {
			return nil, err
		}
		a.At = a.At.UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

func (p *Store) SetMirrorStore(ctx context.Context, id, store string) error {
	q := `INSERT INTO console_mirror_stores(id, store) VALUES($1,$2) ON CONFLICT(id) DO UPDATE SET store = excluded.store`
	args := []any{id, store}
	if store == "" {
		q, args = `DELETE FROM console_mirror_stores WHERE id = $1`, []any{id}
	}
	if _, err := p.pool.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("hub: set mirror store: %w", err)
	}
	return nil
}

func (p *Store) MirrorStores(ctx context.Context) (map[string]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT id, store FROM console_mirror_stores`)
	if err != nil {
		return nil, fmt.Errorf("hub: mirror stores: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

func (p *Store) FlipAlert(ctx context.Context, key string, firing bool, at time.Time, notices ...hubstore.AlertNotice) (bool, error) {
	q := `INSERT INTO console_alerts(key, firing, at) VALUES($1, true, $2) ON CONFLICT(key) DO UPDATE SET firing = true, at = excluded.at WHERE NOT console_alerts.firing`
	args := []any{key, msTime(at)}
	if !firing {
		q, args = `UPDATE console_alerts SET firing = false, at = $1 WHERE key = $2 AND firing`, []any{msTime(at), key}
	}
	won := false
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil || tag.RowsAffected() != 1 {
			return err
		}
		for _, n := range notices {
			if _, err := tx.Exec(ctx, `INSERT INTO console_alert_outbox(id, channel, body, attempts, created_at, owner, lease_until) VALUES($1,$2,$3,$4,$5,$6,$7)`,
				n.ID, n.Channel, n.Body, n.Attempts, msTime(n.CreatedAt), n.Owner, msTime(n.LeaseUntil)); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
		}
		won = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("hub: flip alert: %w", err)
	}
	return won, nil
}

func (p *Store) ClaimAlertNotices(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]hubstore.AlertNotice, error) {
	until := msTime(now.Add(lease))
	rows, err := p.pool.Query(ctx, `UPDATE console_alert_outbox SET owner = $1, lease_until = $2
WHERE id IN (SELECT id FROM console_alert_outbox WHERE lease_until <= $3 ORDER BY created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) AND lease_until <= $3
RETURNING id, channel, body, attempts, created_at`, owner, until, msTime(now), limit)
	if err != nil {
		return nil, fmt.Errorf("hub: claim alert notices: %w", err)
	}
	defer rows.Close()
	var out []hubstore.AlertNotice
	for rows.Next() {
		n := hubstore.AlertNotice{Owner: owner, LeaseUntil: until}
		if err := rows.Scan(&n.ID, &n.Channel, &n.Body, &n.Attempts, &n.CreatedAt); err != nil {
			return nil, err
		}
		n.CreatedAt = n.CreatedAt.UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}

func (p *Store) LeaseAlertNotice(ctx context.Context, id, owner string, attempts int, until time.Time) (bool, error) {
	tag, err := p.pool.Exec(ctx, `UPDATE console_alert_outbox SET attempts = $1, lease_until = $2 WHERE id = $3 AND owner = $4`, attempts, msTime(until), id, owner)
	if err != nil {
		return false, fmt.Errorf("hub: lease alert notice: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (p *Store) DeleteAlertNotice(ctx context.Context, id, owner string) error {
	if _, err := p.pool.Exec(ctx, `DELETE FROM console_alert_outbox WHERE id = $1 AND owner = $2`, id, owner); err != nil {
		return fmt.Errorf("hub: delete alert notice: %w", err)
	}
	return nil
}
