package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// JanitorOptions configure photo retention and the disk guard.
type JanitorOptions struct {
	DB     *DB
	Photos *Photos
	// Retention keeps bound photos this long after capture (the shopper may open the link
	// again); 0 = 24 h.
	Retention time.Duration
	// Uploaded says scanned photos live on elsewhere (the WeChat hub delivered them): the
	// mirror's copy is purged as soon as its session has ended, not after the retention.
	Uploaded bool
	// MinFreeMB: below this much free space in the photo folder, the oldest photos are purged
	// first and a disk.low event is raised; 0 = 200.
	MinFreeMB int
	// Interval between sweeps; 0 = 1 minute.
	Interval time.Duration
	// Record records the janitor's events (session.closed for sessions the last run left
	// open, photo.purged, disk.low): the agent's recorder, so that they reach the outbox and
	// the followers like every other event. nil = DB.Append.
	Record func(context.Context, session.Event) error
	Logger *slog.Logger
	Now    func() time.Time    // nil = time.Now
	FreeMB func() (int, error) // nil = statfs of the photo folder
}

// Janitor purges photos on schedule: bound photos after the retention, photos left unbound
// by a restart, and the oldest photos when the disk fills.
type Janitor struct {
	o       JanitorOptions
	diskLow bool
}

// NewJanitor fills in the defaults.
func NewJanitor(o JanitorOptions) *Janitor {
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.MinFreeMB <= 0 {
		o.MinFreeMB = 200
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Record == nil {
		db := o.DB
		o.Record = func(ctx context.Context, ev session.Event) error { _, err := db.Append(ctx, ev); return err }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FreeMB == nil {
		dir := o.Photos.Dir()
		o.FreeMB = func() (int, error) { return freeMB(dir) }
	}
	return &Janitor{o: o}
}

func freeMB(dir string) (int, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("store: statfs %s: %w", dir, err)
	}
	return int(st.Bavail * uint64(st.Bsize) >> 20), nil
}

// Startup runs before the session engine: sessions still open when the agent last stopped
// are closed (reason "restart"); photos that were not bound belong to a session that is gone,
// so they are purged; files with no photo in the
// index (a crash between writing a photo and recording it) are removed.
func (j *Janitor) Startup(ctx context.Context) error {
	// Sessions open when the agent stopped are closed now, with reason "restart": the fleet
	// sees their session.closed, the analytics their end.
	open, err := j.o.DB.OpenSessions(ctx)
	if err != nil {
		return err
	}
	for _, s := range open {
		if err := j.o.Record(ctx, session.Event{Type: wire.EventSessionClosed, At: j.o.Now(), SessionID: s.ID,
			Data: wire.SessionClosed{DurationMS: s.LastAt.Sub(s.OpenedAt).Milliseconds(), Photos: s.Photos, Reason: "restart"}}); err != nil {
			return err
		}
		j.o.Logger.Info("session left open by the last run closed", "session_id", s.ID, "reason", "restart")
	}
	live, err := j.o.DB.LivePhotos(ctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, p := range live {
		if p.State != "bound" {
			j.purge(ctx, p, wire.PurgeRestart)
			continue
		}
		known[p.ID] = true
	}
	files, _ := filepath.Glob(filepath.Join(j.o.Photos.Dir(), "*.jpg"))
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".jpg")
		if !known[id] {
			j.o.Logger.Info("removing unrecorded photo file", "file", f)
			os.Remove(f)
		}
	}
	return j.Sweep(ctx)
}

// Sweep purges bound photos past the retention and, when the disk is low, the oldest photos.
func (j *Janitor) Sweep(ctx context.Context) error {
	live, err := j.o.DB.LivePhotos(ctx)
	if err != nil {
		return err
	}
	now := j.o.Now()
	var rest []PhotoRow
	for _, p := range live {
		if p.State == "bound" && now.Sub(p.CapturedAt) >= j.o.Retention {
			j.purge(ctx, p, wire.PurgeRetention)
			continue
		}
		if p.State == "bound" && j.o.Uploaded && p.SessionClosed {
			j.purge(ctx, p, wire.PurgeUploaded)
			continue
		}
		rest = append(rest, p)
	}
	free, err := j.o.FreeMB()
	if err != nil {
		j.o.Logger.Warn("disk guard", "err", err)
		return nil
	}
	if free >= j.o.MinFreeMB {
		j.diskLow = false
		return nil
	}
	if !j.diskLow {
		j.diskLow = true
		j.o.Logger.Warn("disk low: purging oldest photos", "free_mb", free, "min_free_mb", j.o.MinFreeMB)
		if err := j.o.Record(ctx, session.Event{Type: wire.EventDiskLow, At: now,
			Data: wire.DiskLow{FreeMB: free, MinFreeMB: j.o.MinFreeMB}}); err != nil {
			j.o.Logger.Error("record disk.low", "err", err)
		}
	}
	for _, p := range rest { // oldest first
		if free, err = j.o.FreeMB(); err != nil || free >= j.o.MinFreeMB {
			break
		}
		j.purge(ctx, p, wire.PurgeDiskLow)
	}
	return nil
}

// PurgeAll purges every photo kept (the fleet's purge-photos command); it returns how many.
func (j *Janitor) PurgeAll(ctx context.Context, reason string) (int, error) {
	live, err := j.o.DB.LivePhotos(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range live {
		if j.purge(ctx, p, reason) {
			n++
		}
	}
	return n, nil
}

// Purge purges the kept photos among ids (the hub's forget-photos: shoppers deleted them);
// it returns how many it held.
func (j *Janitor) Purge(ctx context.Context, ids []string, reason string) (int, error) {
	live, err := j.o.DB.LivePhotos(ctx)
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	n := 0
	for _, p := range live {
		if want[p.ID] && j.purge(ctx, p, reason) {
			n++
		}
	}
	return n, nil
}

func (j *Janitor) purge(ctx context.Context, p PhotoRow, reason string) bool {
	if err := j.o.Photos.Delete(p.ID); err != nil {
		j.o.Logger.Error("purge photo", "photo_id", p.ID, "err", err)
		return false // the row stays: the next sweep tries again
	}
	if err := j.o.Record(ctx, session.Event{Type: wire.EventPhotoPurged, At: j.o.Now(),
		SessionID: p.SessionID, PhotoID: p.ID, Data: wire.PhotoPurged{Reason: reason}}); err != nil {
		j.o.Logger.Error("record photo.purged", "photo_id", p.ID, "err", err)
	}
	return true
}

// Run sweeps every Interval until ctx ends.
func (j *Janitor) Run(ctx context.Context) error {
	t := time.NewTicker(j.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := j.Sweep(ctx); err != nil {
				j.o.Logger.Error("photo sweep", "err", err)
			}
		}
	}
}
