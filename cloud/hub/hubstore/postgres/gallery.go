package postgres

import (
	"context"
	"fmt"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.GalleryStore = (*Store)(nil)

func (p *Store) ViewerPhotos(ctx context.Context, user string) ([]hubstore.Photo, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+pgPhotoCols+` FROM viewers v JOIN photos ph ON ph.id = v.photo_id
WHERE v.user_hash = $1 ORDER BY ph.created_at DESC, ph.id DESC`, user)
	if err != nil {
		return nil, fmt.Errorf("hub: viewer photos: %w", err)
	}
	defer rows.Close()
	var out []hubstore.Photo
	for rows.Next() {
		ph, err := scanPhoto(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ph)
	}
	return out, rows.Err()
}

func (p *Store) RemoveViewer(ctx context.Context, photoID, user string) (int, error) {
	if _, err := p.pool.Exec(ctx, `DELETE FROM viewers WHERE photo_id = $1 AND user_hash = $2`, photoID, user); err != nil {
		return 0, fmt.Errorf("hub: remove viewer: %w", err)
	}
	var n int
	err := p.pool.QueryRow(ctx, `SELECT count(*) FROM viewers WHERE photo_id = $1`, photoID).Scan(&n)
	return n, err
}
