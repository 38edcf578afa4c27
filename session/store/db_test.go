package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 123_000_000, time.UTC)

func openTestDB(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := OpenDB(filepath.Join(dir, "mirror.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// visit records a whole session: opened, one photo captured, QR shown, bound after scanMs, closed.
func visit(t *testing.T, db *DB, sid, pid string, at time.Time, bound bool) {
	t.Helper()
	ctx := context.Background()
	evs := []session.Event{
		{Type: wire.EventSessionOpened, At: at, SessionID: sid},
		{Type: wire.EventPhotoCaptured, At: at.Add(5 * time.Second), SessionID: sid, PhotoID: pid, Data: map[string]any{"width": 1280, "height": 720, "bytes": 1000}},
		{Type: wire.EventQRShown, At: at.Add(6 * time.Second), SessionID: sid, PhotoID: pid, Data: map[string]any{"expires_at": at.Add(time.Hour)}},
	}
	if bound {
		evs = append(evs, session.Event{Type: wire.EventPhotoBound, At: at.Add(10 * time.Second), SessionID: sid, PhotoID: pid, Data: map[string]any{"event": "SCAN"}})
	}
	evs = append(evs, session.Event{Type: wire.EventSessionClosed, At: at.Add(20 * time.Second), SessionID: sid, Data: map[string]any{"duration_ms": 20000, "photos": 1, "reason": "absent"}})
	for _, ev := range evs {
		if _, err := db.Append(ctx, ev); err != nil {
			t.Fatalf("Append(%s) = %v", ev.Type, err)
		}
	}
}

func TestOutboxOrderAckAndRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTestDB(t, dir)
	visit(t, db, "S1", "P1", t0, true)
	all, err := db.Pending(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for i, e := range all {
		if e.Seq != uint64(i+1) || len(e.ID) != 26 {
			t.Errorf("event %d: seq %d id %q, want seq %d and a ULID", i, e.Seq, e.ID, i+1)
		}
		types = append(types, e.Type)
	}
	want := []string{"session.opened", "photo.captured", "qr.shown", "photo.bound", "session.closed"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("outbox types (-want +got):\n%s", diff)
	}
	if got, _ := db.Pending(ctx, 2, 2); len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 4 {
		t.Errorf("Pending(after 2, limit 2) = %+v, want seq 3, 4", got)
	}
	if err := db.Ack(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.Depth(ctx); n != 0 {
		t.Errorf("Depth after Ack(5) = %d, want 0", n)
	}
	db.Close()

	// seq continues across a restart even when the outbox was emptied.
	db2 := openTestDB(t, dir)
	ev, err := db2.Append(ctx, session.Event{Type: wire.EventSessionOpened, At: t0, SessionID: "S2"})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 6 {
		t.Errorf("first seq after restart = %d, want 6", ev.Seq)
	}
	select {
	case <-db2.Appended():
	default:
		t.Errorf("Appended() not signalled after Append")
	}
}

func TestIndexStatesAndAnalytics(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir())
	visit(t, db, "S1", "P1", t0, true)
	visit(t, db, "S2", "P2", t0.Add(time.Minute), false)
	live, err := db.LivePhotos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range live {
		got[p.ID] = p.State
	}
	if diff := cmp.Diff(map[string]string{"P1": "bound", "P2": "qr_shown"}, got); diff != "" {
		t.Errorf("photo states (-want +got):\n%s", diff)
	}
	// Purging twice records one event.
	purged := session.Event{Type: wire.EventPhotoPurged, At: t0.Add(2 * time.Minute), SessionID: "S2", PhotoID: "P2", Data: map[string]any{"reason": "unbound"}}
	if _, dup, err := db.Record(ctx, purged, "E1"); dup || err != nil {
		t.Fatalf("first purge: dup %v err %v", dup, err)
	}
	if _, dup, err := db.Record(ctx, purged, "E2"); !dup || err != nil {
		t.Errorf("second purge: dup %v err %v, want a duplicate", dup, err)
	}
	a, err := db.Analytics(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := Analytics{Sessions: 2, AvgDwellMs: 20000, Photos: 2, PhotosPerSession: 1, QRShown: 2, Bound: 1, Conversion: 0.5, AvgTimeToScanMs: 4000}
	if a != want {
		t.Errorf("Analytics = %+v\nwant        %+v", a, want)
	}
}

func TestTrimOutbox(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir())
	for i := 0; i < 10; i++ {
		db.Append(ctx, session.Event{Type: "camera.lost", At: t0})
	}
	n, err := db.TrimOutbox(ctx, 4)
	if err != nil || n != 6 {
		t.Fatalf("TrimOutbox(4) = %d, %v; want 6 dropped", n, err)
	}
	left, _ := db.Pending(ctx, 0, 100)
	if len(left) != 4 || left[0].Seq != 7 {
		t.Errorf("after trim: %d events from seq %d, want the newest 4 from 7", len(left), left[0].Seq)
	}
}

type janitorRig struct {
	db     *DB
	photos *Photos
	j      *Janitor
	now    time.Time
	free   int
	purged []string
}

func newJanitorRig(t *testing.T) *janitorRig {
	dir := t.TempDir()
	r := &janitorRig{db: openTestDB(t, dir), now: t0, free: 10_000}
	var err error
	if r.photos, err = OpenPhotos(filepath.Join(dir, "photos")); err != nil {
		t.Fatal(err)
	}
	r.j = NewJanitor(JanitorOptions{DB: r.db, Photos: r.photos, Retention: 24 * time.Hour, MinFreeMB: 100,
		Record: func(ctx context.Context, ev session.Event) error { // what the agent's recorder gets
			if ev.Type == wire.EventPhotoPurged {
				r.purged = append(r.purged, ev.PhotoID)
			}
			_, err := r.db.Append(ctx, ev)
			return err
		},
		Now: func() time.Time { return r.now }, FreeMB: func() (int, error) { return r.free, nil }})
	return r
}

func (r *janitorRig) add(t *testing.T, sid, pid string, at time.Time, bound bool) {
	if err := r.photos.Put(pid, []byte("jpeg "+pid)); err != nil {
		t.Fatal(err)
	}
	visit(t, r.db, sid, pid, at, bound)
}

func (r *janitorRig) files() []string {
	fs, _ := filepath.Glob(filepath.Join(r.photos.Dir(), "*.jpg"))
	var out []string
	for _, f := range fs {
		out = append(out, filepath.Base(f))
	}
	return out
}

func TestJanitorRetention(t *testing.T) {
	ctx := context.Background()
	r := newJanitorRig(t)
	r.add(t, "S1", "OLD", t0, true)
	r.add(t, "S2", "NEW", t0.Add(20*time.Hour), true)
	r.now = t0.Add(25 * time.Hour)
	if err := r.j.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"NEW.jpg"}, r.files()); diff != "" {
		t.Errorf("files after sweep (-want +got):\n%s", diff)
	}
	live, _ := r.db.LivePhotos(ctx)
	if len(live) != 1 || live[0].ID != "NEW" {
		t.Errorf("live photos = %+v, want only NEW", live)
	}
	if diff := cmp.Diff([]string{"OLD"}, r.purged); diff != "" {
		t.Errorf("photo.purged recorded (-want +got):\n%s", diff)
	}
	evs, _ := r.db.Pending(ctx, 0, 100)
	last := evs[len(evs)-1]
	if last.Type != "photo.purged" || last.PhotoID != "OLD" || string(last.Data) != `{"reason":"retention"}` {
		t.Errorf("last event = %+v, want photo.purged OLD retention", last)
	}
}

// With the hub, a scanned photo lives on at the hub: the mirror's copy goes once its session
// has ended (not before: the compare screen may still show it).
func TestJanitorPurgesUploadedPhotosAfterTheSession(t *testing.T) {
	ctx := context.Background()
	r := newJanitorRig(t)
	r.j.o.Uploaded = true
	r.add(t, "S1", "DONE", t0, true)
	// S2 is still open: opened, captured, bound, not closed.
	r.photos.Put("OPEN", []byte("jpeg"))
	for _, ev := range []session.Event{
		{Type: wire.EventSessionOpened, At: t0, SessionID: "S2"},
		{Type: wire.EventPhotoCaptured, At: t0, SessionID: "S2", PhotoID: "OPEN"},
		{Type: wire.EventPhotoBound, At: t0, SessionID: "S2", PhotoID: "OPEN", Data: map[string]any{"event": "SCAN"}},
	} {
		if _, err := r.db.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.j.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"OPEN.jpg"}, r.files()); diff != "" {
		t.Errorf("files after sweep (-want +got):\n%s", diff)
	}
	evs, _ := r.db.Pending(ctx, 0, 100)
	last := evs[len(evs)-1]
	if last.PhotoID != "DONE" || string(last.Data) != `{"reason":"uploaded"}` {
		t.Errorf("last event = %+v, want photo.purged DONE (uploaded)", last)
	}
}

func TestJanitorStartupPurgesLeftovers(t *testing.T) {
	ctx := context.Background()
	r := newJanitorRig(t)
	r.add(t, "S1", "KEPT", t0, true)
	r.add(t, "S2", "UNBOUND", t0, false)
	r.photos.Put("ORPHAN", []byte("never recorded"))
	if err := r.j.Startup(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"KEPT.jpg"}, r.files()); diff != "" {
		t.Errorf("files after startup (-want +got):\n%s", diff)
	}
}

func TestJanitorDiskGuardPurgesOldestFirst(t *testing.T) {
	ctx := context.Background()
	r := newJanitorRig(t)
	r.add(t, "S1", "A", t0, true)
	r.add(t, "S2", "B", t0.Add(time.Hour), true)
	r.add(t, "S3", "C", t0.Add(2*time.Hour), true)
	r.free = 50
	purges := 0
	r.j.o.FreeMB = func() (int, error) {
		if len(r.purged) > purges {
			purges = len(r.purged)
		}
		return 50 + 30*purges, nil // each purge frees 30 MB
	}
	if err := r.j.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"A", "B"}, r.purged); diff != "" {
		t.Errorf("purged (-want +got):\n%s", diff)
	}
	evs, _ := r.db.Pending(ctx, 0, 1000)
	low := 0
	for _, e := range evs {
		if e.Type == wire.EventDiskLow {
			low++
		}
	}
	if low != 1 {
		t.Errorf("disk.low events = %d, want 1", low)
	}
}

func TestJanitorPurgeAll(t *testing.T) {
	ctx := context.Background()
	r := newJanitorRig(t)
	r.add(t, "S1", "A", t0, true)
	r.add(t, "S2", "B", t0, true)
	n, err := r.j.PurgeAll(ctx, "command")
	if err != nil || n != 2 || len(r.files()) != 0 {
		t.Errorf("PurgeAll = %d, %v; files left %v", n, err, r.files())
	}
}

// TestJanitorPurgeNamed: the hub's forget-photos purges only the photos it names, and says
// how many the mirror held.
func TestJanitorPurgeNamed(t *testing.T) {
	ctx := context.Background()
	r := newJanitorRig(t)
	r.add(t, "S1", "A", t0, true)
	r.add(t, "S2", "B", t0, true)
	n, err := r.j.Purge(ctx, []string{"B", "NOT-HERE"}, "deleted")
	if err != nil || n != 1 || len(r.files()) != 1 || r.files()[0] != "A.jpg" {
		t.Errorf("Purge(B) = %d, %v; files left %v, want A only", n, err, r.files())
	}
}

func TestOpenDBErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, []byte("x"), 0o600)
	if _, err := OpenDB(filepath.Join(f, "mirror.db")); err == nil {
		t.Errorf("OpenDB under a file = nil error")
	}
	garbage := filepath.Join(t.TempDir(), "mirror.db")
	os.WriteFile(garbage, []byte("this is not a database, just text that is long enough to look like a header......"), 0o600)
	if _, err := OpenDB(garbage); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("OpenDB(garbage) = %v, want an error naming the file", err)
	}
}
