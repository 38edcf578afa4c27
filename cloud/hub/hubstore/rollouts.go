package hubstore

import (
	"context"
	"time"
)

// RolloutStore keeps the software rollouts the hub advances (package cloud/hub/rollout) and
// the versions mirrors are pinned to. A rollout is one document that changes by compare and
// swap: UpdateRollout succeeds only on the revision it read, so two replicas advancing the
// same rollout never both send a batch. sqlite.Store and postgres.Store implement it;
// storetest.RunRollouts is its suite.
type RolloutStore interface {
	// CreateRollout stores a new rollout at revision 1; ErrExists when its ID is taken.
	CreateRollout(ctx context.Context, r StoredRollout) error
	// Rollout returns one rollout, or ErrNotFound.
	Rollout(ctx context.Context, id string) (StoredRollout, error)
	// Rollouts lists the rollouts, newest first; only those whose State is "running" when
	// running is set.
	Rollouts(ctx context.Context, running bool) ([]StoredRollout, error)
	// UpdateRollout replaces the rollout r.ID if it is still at revision r.Rev (ErrConflict
	// otherwise: read it again) and returns the new revision.
	UpdateRollout(ctx context.Context, r StoredRollout) (rev int64, err error)
	// SetPin pins a device to a version ("" removes the pin); Pins lists the pins.
	SetPin(ctx context.Context, deviceID, version string) error
	Pins(ctx context.Context) (map[string]string, error)
}

// StoredRollout is a rollout as stored: its state (for listing) and its document.
type StoredRollout struct {
	ID        string
	State     string // "running", "done", "stopped", "failed"
	Doc       []byte // JSON, package rollout's
	Rev       int64
	CreatedAt time.Time
}
