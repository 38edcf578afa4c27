package sqlite

import (
	"context"
	"fmt"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

var _ hubstore.GalleryStore = (*Store)(nil)

func (s *Store) ViewerPhotos(ctx context.Context, user string) ([]hubstore.Photo, error) {
	rows, err := s.query(ctx, `SELECT p.id, p.device_id, p.session_id, p.sha256, p.size, p.created_at
FROM viewers v JOIN photos p ON p.id = v.photo_id WHERE v.user = ? ORDER BY p.created_at DESC, p.id DESC`, user)
	if err != nil {
		return nil, fmt.Errorf("hub: viewer photos: %w", err)
	}
	return scanPhotos(rows)
}

func (s *Store) RemoveViewer(ctx context.Context, photoID, user string) (int, error) {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM viewers WHERE photo_id = ? AND user = ?`, photoID, user); err != nil {
		return 0, fmt.Errorf("hub: remove viewer: %w", err)
	}
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM viewers WHERE photo_id = ?`, photoID).Scan(&n)
	return n, err
}
