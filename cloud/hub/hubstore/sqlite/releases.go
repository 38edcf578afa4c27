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
