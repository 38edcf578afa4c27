package sqlite

import (
	"context"
	"fmt"

	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// consoleSchema is migration 4: the fleet console's operators, sessions, audit log, mirror
// stores and alert states.
const consoleSchema = `
CREATE TABLE console_operators (name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE console_sessions (id TEXT PRIMARY KEY, operator TEXT NOT NULL, csrf TEXT NOT NULL,
	created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX console_sessions_operator ON console_sessions(operator);
CREATE TABLE console_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, operator TEXT NOT NULL,
	action TEXT NOT NULL, target TEXT NOT NULL, result TEXT NOT NULL, remote TEXT NOT NULL);
CREATE TABLE console_mirror_stores (id TEXT PRIMARY KEY, store TEXT NOT NULL);
CREATE TABLE console_alerts (key TEXT PRIMARY KEY, firing INTEGER NOT NULL, at INTEGER NOT NULL);
`

func (s *Store) AddOperator(ctx context.Context, o hubstore.Operator) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO console_operators(name, role, hash, created_at) VALUES(?,?,?,?) ON CONFLICT DO NOTHING`,
		o.Name, o.Role, o.Hash, ms(o.CreatedAt))
	if err != nil {
		return fmt.Errorf("hub: add operator: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("hub: add operator %s: %w", o.Name, hubstore.ErrExists)
	}
	return nil
}

func (s *Store) Operator(ctx context.Context, name string) (hubstore.Operator, error) {
	var o hubstore.Operator
	var at int64
	err := s.queryRow(ctx, `SELECT name, role, hash, created_at FROM console_operators WHERE name = ?`, name).
		Scan(&o.Name, &o.Role, &o.Hash, &at)
	o.CreatedAt = fromMS(at)
	return o, notFound(err)
}

func (s *Store) Operators(ctx context.Context) ([]hubstore.Operator, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, hash, created_at FROM console_operators ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("hub: operators: %w", err)
	}
	defer rows.Close()
	var out []hubstore.Operator
	for rows.Next() {
		var o hubstore.Operator
		var at int64
		if err := rows.Scan(&o.Name, &o.Role, &o.Hash, &at); err != nil {
			return nil, err
		}
		o.CreatedAt = fromMS(at)
		out = append(out, o)
	}
	return out, rows.Err()
}

// operatorChange runs q (which names the operator as its last argument) and deletes the
// operator's sessions, in one transaction.
func (s *Store) operatorChange(ctx context.Context, what, name, q string, args ...any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hub: %s: %w", what, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, q, append(args, name)...)
	if err != nil {
		return fmt.Errorf("hub: %s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("hub: %s %s: %w", what, name, hubstore.ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE operator = ?`, name); err != nil {
		return fmt.Errorf("hub: %s: %w", what, err)
	}
	return tx.Commit()
}

func (s *Store) SetOperatorHash(ctx context.Context, name, hash string) error {
	return s.operatorChange(ctx, "set operator password", name, `UPDATE console_operators SET hash = ? WHERE name = ?`, hash)
}

func (s *Store) RemoveOperator(ctx context.Context, name string) error {
	return s.operatorChange(ctx, "remove operator", name, `DELETE FROM console_operators WHERE name = ?`)
}

func (s *Store) AddSession(ctx context.Context, cs hubstore.ConsoleSession) error {
	_, err := s.exec(ctx, `INSERT INTO console_sessions(id, operator, csrf, created_at, expires_at) VALUES(?,?,?,?,?)`,
		cs.ID, cs.Operator, cs.CSRF, ms(cs.CreatedAt), ms(cs.ExpiresAt))
	if err != nil {
		return fmt.Errorf("hub: add session: %w", err)
	}
	return nil
}

func (s *Store) Session(ctx context.Context, id string, now time.Time) (hubstore.ConsoleSession, error) {
	var cs hubstore.ConsoleSession
	var created, expires int64
	err := s.queryRow(ctx, `SELECT id, operator, csrf, created_at, expires_at FROM console_sessions WHERE id = ? AND expires_at > ?`, id, ms(now)).
		Scan(&cs.ID, &cs.Operator, &cs.CSRF, &created, &expires)
	cs.CreatedAt, cs.ExpiresAt = fromMS(created), fromMS(expires)
	return cs, notFound(err)
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.exec(ctx, `DELETE FROM console_sessions WHERE id = ?`, id)
	return err
}

func (s *Store) PruneSessions(ctx context.Context, before time.Time) error {
	_, err := s.exec(ctx, `DELETE FROM console_sessions WHERE expires_at < ?`, ms(before))
	return err
}

func (s *Store) AddAudit(ctx context.Context, a hubstore.AuditEntry) error {
	_, err := s.exec(ctx, `INSERT INTO console_audit(at, operator, action, target, result, remote) VALUES(?,?,?,?,?,?)`,
		ms(a.At), a.Operator, a.Action, a.Target, a.Result, a.Remote)
	if err != nil {
		return fmt.Errorf("hub: audit: %w", err)
	}
	return nil
}

func (s *Store) Audit(ctx context.Context, limit int) ([]hubstore.AuditEntry, error) {
	rows, err := s.query(ctx, `SELECT at, operator, action, target, result, remote FROM console_audit ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("hub: audit: %w", err)
	}
	defer rows.Close()
	var out []hubstore.AuditEntry
	for rows.Next() {
		var a hubstore.AuditEntry
		var at int64
		if err := rows.Scan(&at, &a.Operator, &a.Action, &a.Target, &a.Result, &a.Remote); err != nil {
			return nil, err
		}
		a.At = fromMS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *Store) SetMirrorStore(ctx context.Context, id, store string) error {
	q := `INSERT INTO console_mirror_stores(id, store) VALUES(?,?) ON CONFLICT(id) DO UPDATE SET store = excluded.store`
	args := []any{id, store}
	if store == "" {
		q, args = `DELETE FROM console_mirror_stores WHERE id = ?`, []any{id}
	}
	if _, err := s.exec(ctx, q, args...); err != nil {
		return fmt.Errorf("hub: set mirror store: %w", err)
	}
	return nil
}

func (s *Store) MirrorStores(ctx context.Context) (map[string]string, error) {
	rows, err := s.query(ctx, `SELECT id, store FROM console_mirror_stores`)
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

func (s *Store) FlipAlert(ctx context.Context, key string, firing bool, at time.Time, notices ...hubstore.AlertNotice) (bool, error) {
	q := `INSERT INTO console_alerts(key, firing, at) VALUES(?, 1, ?) ON CONFLICT(key) DO UPDATE SET firing = 1, at = excluded.at WHERE console_alerts.firing = 0`
	args := []any{key, ms(at)}
	if !firing {
		q, args = `UPDATE console_alerts SET firing = 0, at = ? WHERE key = ? AND firing = 1`, []any{ms(at), key}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("hub: flip alert: %w", err)
	}
	defer tx.Rollback()
	res, err := s.txExec(ctx, tx, q, args...)
	if err != nil {
		return false, fmt.Errorf("hub: flip alert: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	for _, n := range notices {
		if _, err := s.txExec(ctx, tx, `INSERT INTO console_alert_outbox(id, channel, body, attempts, created_at, owner, lease_until) VALUES(?,?,?,?,?,?,?)`,
			n.ID, n.Channel, n.Body, n.Attempts, ms(n.CreatedAt), n.Owner, ms(n.LeaseUntil)); err != nil {
			return false, fmt.Errorf("hub: flip alert: outbox: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("hub: flip alert: %w", err)
	}
	return true, nil
}

func (s *Store) ClaimAlertNotices(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]hubstore.AlertNotice, error) {
	until := now.Add(lease)
	rows, err := s.query(ctx, `UPDATE console_alert_outbox SET owner = ?, lease_until = ?
WHERE id IN (SELECT id FROM console_alert_outbox WHERE lease_until <= ? ORDER BY created_at, id LIMIT ?) AND lease_until <= ?
RETURNING id, channel, body, attempts, created_at`, owner, ms(until), ms(now), limit, ms(now))
	if err != nil {
		return nil, fmt.Errorf("hub: claim alert notices: %w", err)
	}
	defer rows.Close()
	var out []hubstore.AlertNotice
	for rows.Next() {
		n := hubstore.AlertNotice{Owner: owner, LeaseUntil: fromMS(ms(until))}
		var at int64
		if err := rows.Scan(&n.ID, &n.Channel, &n.Body, &n.Attempts, &at); err != nil {
			return nil, err
		}
		n.CreatedAt = fromMS(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

func (s *Store) LeaseAlertNotice(ctx context.Context, id, owner string, attempts int, until time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE console_alert_outbox SET attempts = ?, lease_until = ? WHERE id = ? AND owner = ?`, attempts, ms(until), id, owner)
	if err != nil {
		return false, fmt.Errorf("hub: lease alert notice: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *Store) DeleteAlertNotice(ctx context.Context, id, owner string) error {
	if _, err := s.exec(ctx, `DELETE FROM console_alert_outbox WHERE id = ? AND owner = ?`, id, owner); err != nil {
		return fmt.Errorf("hub: delete alert notice: %w", err)
	}
	return nil
}
