package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.ReleaseStore = (*Store)(nil)

func (p *Store) AddRelease(ctx context.Context, r hubstore.Release) error {
	tag, err := p.pool.Exec(ctx, `INSERT INTO releases(version, arch, package, sha256, size, signature, key_id, created_at)
VALUES($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING`, r.Version, r.Arch, r.Package, r.SHA256, r.Size, r.Signature, r.KeyID, msTime(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("hub: add release: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("hub: add release %s (%s): %w", r.Version, r.Arch, hubstore.ErrExists)
	}
	return nil
}

const releaseCols = `version, arch, package, sha256, size, signature, key_id, created_at`

func scanRelease(row pgx.Row) (hubstore.Release, error) {
	var r hubstore.Release
	err := row.Scan(&r.Version, &r.Arch, &r.Package, &r.SHA256, &r.Size, &r.Signature, &r.KeyID, &r.CreatedAt)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, err
}

func (p *Store) Release(ctx context.Context, version, arch string) (hubstore.Release, error) {
	r, err := scanRelease(p.pool.QueryRow(ctx, `SELECT `+releaseCols+` FROM releases WHERE version = $1 AND arch = $2`, version, arch))
	return r, pgNotFound(err)
}

func (p *Store) Releases(ctx context.Context) ([]hubstore.Release, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+releaseCols+` FROM releases ORDER BY created_at DESC, version DESC, arch`)
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

// chunkSize is the size of one row of file_chunks. A download holds one chunk at a time.
const chunkSize = 256 << 10

// Files keeps large files (releases) in the database in chunks of 256 KiB, where every
// replica reads them; a reader holds one chunk at a time.
func (p *Store) Files() hubstore.Files { return pgFiles{p.pool} }

type pgFiles struct{ pool *pgxpool.Pool }

func (f pgFiles) Create(ctx context.Context, key string, r io.Reader, size int64) (string, error) {
	h := sha256.New()
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		for _, q := range []string{`DELETE FROM files WHERE key = $1`, `DELETE FROM file_chunks WHERE key = $1`} {
			if _, err := tx.Exec(ctx, q, key); err != nil {
				return err
			}
		}
		buf := make([]byte, chunkSize)
		var total int64
		for n := 0; ; n++ {
			k, err := io.ReadFull(r, buf)
			if k > 0 {
				h.Write(buf[:k])
				total += int64(k)
				if total > size {
					return fmt.Errorf("%s: more than %d bytes", key, size)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO file_chunks(key, n, data) VALUES($1,$2,$3)`, key, n, buf[:k]); err != nil {
					return err
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				return err
			}
		}
		if total != size {
			return fmt.Errorf("%s: got %d bytes, want %d", key, total, size)
		}
		_, err := tx.Exec(ctx, `INSERT INTO files(key, size, sha256) VALUES($1,$2,$3)`, key, size, hex.EncodeToString(h.Sum(nil)))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hub: store file: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (f pgFiles) Open(ctx context.Context, key string) (hubstore.File, error) {
	var size int64
	if err := f.pool.QueryRow(ctx, `SELECT size FROM files WHERE key = $1`, key).Scan(&size); err != nil {
		return nil, pgNotFound(err)
	}
	return &pgFile{pool: f.pool, key: key, size: size, ctx: ctx, n: -1}, nil
}

func (f pgFiles) Delete(ctx context.Context, key string) error {
	return pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		for _, q := range []string{`DELETE FROM files WHERE key = $1`, `DELETE FROM file_chunks WHERE key = $1`} {
			if _, err := tx.Exec(ctx, q, key); err != nil {
				return err
			}
		}
		return nil
	})
}

// pgFile reads a file chunk by chunk, keeping the last chunk it read (reads come in order).
type pgFile struct {
	pool *pgxpool.Pool
	key  string
	size int64
	ctx  context.Context
	n    int64 // the chunk in data; -1 = none
	data []byte
}

func (f *pgFile) Size() int64  { return f.size }
func (f *pgFile) Close() error { f.data = nil; return nil }

func (f *pgFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	read := 0
	for read < len(p) && off < f.size {
		n := off / chunkSize
		if n != f.n {
			f.data = f.data[:0]
			if err := f.pool.QueryRow(f.ctx, `SELECT data FROM file_chunks WHERE key = $1 AND n = $2`, f.key, n).Scan(&f.data); err != nil {
				f.n = -1
				return read, fmt.Errorf("hub: read %s chunk %d: %w", f.key, n, pgNotFound(err))
			}
			f.n = n
		}
		k := copy(p[read:], f.data[off-n*chunkSize:])
		if k == 0 {
			return read, fmt.Errorf("hub: %s chunk %d is short", f.key, n)
		}
		read += k
		off += int64(k)
	}
	if read < len(p) {
		return read, io.EOF
	}
	return read, nil
}

var _ hubstore.RolloutStore = (*Store)(nil)

func (p *Store) CreateRollout(ctx context.Context, r hubstore.StoredRollout) error {
	tag, err := p.pool.Exec(ctx, `INSERT INTO rollouts(id, state, doc, rev, created_at) VALUES($1,$2,$3,1,$4) ON CONFLICT DO NOTHING`,
		r.ID, r.State, r.Doc, msTime(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("hub: create rollout: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("hub: create rollout %s: %w", r.ID, hubstore.ErrExists)
	}
	return nil
}

func scanRollout(row pgx.Row) (hubstore.StoredRollout, error) {
	var r hubstore.StoredRollout
	err := row.Scan(&r.ID, &r.State, &r.Doc, &r.Rev, &r.CreatedAt)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, err
}

func (p *Store) Rollout(ctx context.Context, id string) (hubstore.StoredRollout, error) {
	r, err := scanRollout(p.pool.QueryRow(ctx, `SELECT id, state, doc, rev, created_at FROM rollouts WHERE id = $1`, id))
	return r, pgNotFound(err)
}

func (p *Store) Rollouts(ctx context.Context, running bool) ([]hubstore.StoredRollout, error) {
	q := `SELECT id, state, doc, rev, created_at FROM rollouts`
	if running {
		q += ` WHERE state = 'running'`
	}
	rows, err := p.pool.Query(ctx, q+` ORDER BY created_at DESC, id DESC`)
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

func (p *Store) UpdateRollout(ctx context.Context, r hubstore.StoredRollout) (int64, error) {
	tag, err := p.pool.Exec(ctx, `UPDATE rollouts SET state = $1, doc = $2, rev = rev + 1 WHERE id = $3 AND rev = $4`, r.State, r.Doc, r.ID, r.Rev)
	if err != nil {
		return 0, fmt.Errorf("hub: update rollout: %w", err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := p.Rollout(ctx, r.ID); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("hub: rollout %s changed since revision %d: %w", r.ID, r.Rev, hubstore.ErrConflict)
	}
	return r.Rev + 1, nil
}

func (p *Store) SetPin(ctx context.Context, deviceID, version string) error {
	var err error
	if version == "" {
		_, err = p.pool.Exec(ctx, `DELETE FROM pins WHERE device_id = $1`, deviceID)
	} else {
		_, err = p.pool.Exec(ctx, `INSERT INTO pins(device_id, version) VALUES($1,$2) ON CONFLICT (device_id) DO UPDATE SET version = EXCLUDED.version`, deviceID, version)
	}
	if err != nil {
		return fmt.Errorf("hub: pin: %w", err)
	}
	return nil
}

func (p *Store) Pins(ctx context.Context) (map[string]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT device_id, version FROM pins`)
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
