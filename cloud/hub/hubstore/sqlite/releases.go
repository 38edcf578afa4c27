package sqlite

import (
	"context"
	"fmt"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.ReleaseStore = (*Store)(nil)

func (s *Store) AddRelease(ctx context.Context, r hubstore.Release) error {
	res, err := s.exec(ctx, `INSERT INTO releases(version, arch, package, sha256, size, signature, key_id, created_at)
VALUES(?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`, r.Version, r.Arch, r.Package, r.SHA256, r.Size, r.Signature, r.KeyID, ms(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("hub: add release: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("hub: add release %s (%s): %w", r.Version, r.Arch, hubstore.ErrExists)
	}
	return nil
}

const releaseCols = `version, arch, package, sha256, size, signature, key_id, created_at`

type scanner interface{ Scan(...any) error }

func scanRelease(row scanner) (hubstore.Release, error) {
	var r hubstore.Release
	var at int64
	err := row.Scan(&r.Version, &r.Arch, &r.Package, &r.SHA256, &r.Size, &r.Signature, &r.KeyID, &at)
	r.CreatedAt = fromMS(at)
	return r, err
}

func (s *Store) Release(ctx context.Context, version, arch string) (hubstore.Release, error) {
	r, err := scanRelease(s.queryRow(ctx, `SELECT `+releaseCols+` FROM releases WHERE version = ? AND arch = ?`, version, arch))
	return r, notFound(err)
}

func (s *Store) Releases(ctx context.Context) ([]hubstore.Release, error) {
	rows, err := s.query(ctx, `SELECT `+releaseCols+` FROM releases ORDER BY created_at DESC, version DESC, arch`)
	if err != nil {
		return nil, fmt.Errorf("hub: releases: %w", err)
	}
	defer rows.Close()
	var out []hubstore.Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, fmt.Errorf("hub: releases: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

var _ hubstore.RolloutStore = (*Store)(nil)

func (s *Store) CreateRollout(ctx context.Context, r hubstore.StoredRollout) error {
	res, err := s.exec(ctx, `INSERT INTO rollouts(id, state, doc, rev, created_at) VALUES(?,?,?,1,?) ON CONFLICT DO NOTHING`,
		r.ID, r.State, r.Doc, ms(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("hub: create rollout: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("hub: create rollout %s: %w", r.ID, hubstore.ErrExists)
	}
	return nil
}

func scanRollout(row scanner) (hubstore.StoredRollout, error) {
	var r hubstore.StoredRollout
	var at int64
	err := row.Scan(&r.ID, &r.State, &r.Doc, &r.Rev, &at)
	r.CreatedAt = fromMS(at)
	return r, err
}

func (s *Store) Rollout(ctx context.Context, id string) (hubstore.StoredRollout, error) {
	r, err := scanRollout(s.queryRow(ctx, `SELECT id, state, doc, rev, created_at FROM rollouts WHERE id = ?`, id))
	return r, notFound(err)
}

func (s *Store) Rollouts(ctx context.Context, running bool) ([]hubstore.StoredRollout, error) {
	q := `SELECT id, state, doc, rev, created_at FROM rollouts`
	if running {
		q += ` WHERE state = 'running'`
	}
	rows, err := s.query(ctx, q+` ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("hub: rollouts: %w", err)
	}
	defer rows.Close()
	var out []hubstore.StoredRollout
	for rows.Next() {
		r, err := scanRollout(rows)
		if err != nil {
			return nil, fmt.Errorf("hub: rollouts: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) UpdateRollout(ctx context.Context, r hubstore.StoredRollout) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE rollouts SET state = ?, doc = ?, rev = rev + 1 WHERE id = ? AND rev = ?`, r.State, r.Doc, r.ID, r.Rev)
	if err != nil {
		return 0, fmt.Errorf("hub: update rollout: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Rollout(ctx, r.ID); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("hub: rollout %s changed since revision %d: %w", r.ID, r.Rev, hubstore.ErrConflict)
	}
	return r.Rev + 1, nil
}

func (s *Store) SetPin(ctx context.Context, deviceID, version string) error {
	var err error
	if version == "" {
		_, err = s.db.ExecContext(ctx, `DELETE FROM pins WHERE device_id = ?`, deviceID)
	} else {
		_, err = s.db.ExecContext(ctx, `INSERT INTO pins(device_id, version) VALUES(?,?) ON CONFLICT(device_id) DO UPDATE SET version = excluded.version`, deviceID, version)
	}
	if err != nil {
		return fmt.Errorf("hub: pin: %w", err)
	}
	return nil
}

func (s *Store) Pins(ctx context.Context) (map[string]string, error) {
	rows, err := s.query(ctx, `SELECT device_id, version FROM pins`)
	if err != nil {
		return nil, fmt.Errorf("hub: pins: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var d, v string
		if err := rows.Scan(&d, &v); err != nil {
			return nil, err
		}
		out[d] = v
	}
	return out, rows.Err()
}
