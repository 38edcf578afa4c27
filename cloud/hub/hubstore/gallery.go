package hubstore

import "context"

// GalleryStore is what the shopper's gallery (/me) needs: the photos a shopper may see, and
// taking a shopper's right to one back. sqlite.Store and postgres.Store implement it;
// storetest.RunGallery is its suite.
type GalleryStore interface {
	// ViewerPhotos lists the photos user (the salted hash of an openid) may see, newest first.
	ViewerPhotos(ctx context.Context, user string) ([]Photo, error)
	// RemoveViewer takes user's right to see photoID back and returns how many viewers the
	// photo has left (0 when nobody may see it any more; the caller then deletes it).
	RemoveViewer(ctx context.Context, photoID, user string) (left int, err error)
}
