package hubstore

import (
	"context"
	"time"
)

// MirrorEventStore keeps the events the mirrors send (mirror/{id}/events) as the hub hears
// them: a mirror's timeline for the console and the shopper funnel. A mirror's events carry
// a seq that increases by one for the life of the device, so (device, seq) identifies one:
// every replica hears every event and a mirror resends after a reconnection, and each is
// stored once. sqlite.Store and postgres.Store implement it; storetest.RunMirrorEvents is
// its suite.
type MirrorEventStore interface {
	// AddMirrorEvent stores an event unless its device and seq are stored already; it
	// reports whether it was new.
	AddMirrorEvent(ctx context.Context, e MirrorEvent) (bool, error)
	// MirrorEvents lists a mirror's newest events, at most limit, newest first.
	MirrorEvents(ctx context.Context, device string, limit int) ([]MirrorEvent, error)
	// Funnel counts per mirror and day (UTC) from from to to: the QR codes the mirrors
	// showed (qr.shown), the scans the hub handled (subscribe/SCAN pushes it kept) and the
	// photos the mirrors showed bound (photo.bound). Oldest day first, then by mirror.
	Funnel(ctx context.Context, from, to time.Time) ([]FunnelRow, error)
	// PruneMirrorEvents forgets the events that happened before t.
	PruneMirrorEvents(ctx context.Context, before time.Time) error
}

// MirrorEvent is one event of a mirror, as it sent it.
type MirrorEvent struct {
	Device    string
	Seq       uint64
	ID, Type  string
	At        time.Time
	SessionID string
	PhotoID   string
	Data      []byte // JSON object
}

// FunnelRow is one mirror's funnel on one day.
type FunnelRow struct {
	Device  string
	Day     string // YYYY-MM-DD, UTC
	QRShown int
	Scanned int
	Bound   int
}
