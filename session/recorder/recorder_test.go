package recorder_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/syncbuf"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/recorder"
	"github.com/fitmirror/fitmirror/session/store"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func openDB(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.OpenDB(filepath.Join(dir, "mirror.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The janitor's purge goes through the recorder like the engine's events: it is on the
// outbox with its seq, and the followers hear it after it was recorded.
func TestJanitorPurgeOnTheOutbox(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	photos, err := store.OpenPhotos(filepath.Join(dir, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	rec := recorder.New(recorder.Options{DB: db})
	var heard []string
	rec.Follow(func(ev session.Event) {
		evs, _ := db.Pending(ctx, 0, 100) // recorded before the followers hear it
		if n := len(evs); n == 0 || evs[n-1].Type != ev.Type {
			t.Errorf("follower heard %s before it was on the outbox", ev.Type)
		}
		heard = append(heard, ev.Type+" "+ev.PhotoID)
	})
	for _, ev := range []session.Event{
		{Type: wire.EventSessionOpened, At: t0, SessionID: "S1"},
		{Type: wire.EventPhotoCaptured, At: t0, SessionID: "S1", PhotoID: "P1", Data: map[string]any{"width": 4, "height": 4, "bytes": 5}},
		{Type: wire.EventPhotoBound, At: t0, SessionID: "S1", PhotoID: "P1", Data: map[string]any{"event": "SCAN"}},
		{Type: wire.EventSessionClosed, At: t0.Add(time.Minute), SessionID: "S1", Data: map[string]any{"reason": "left", "photos": 1}},
	} {
		rec.Record(ev)
	}
	if err := photos.Put("P1", []byte("jpeg")); err != nil {
		t.Fatal(err)
	}
	j := store.NewJanitor(store.JanitorOptions{DB: db, Photos: photos, Uploaded: true, Record: rec.Append,
		FreeMB: func() (int, error) { return 10_000, nil }, Now: func() time.Time { return t0.Add(2 * time.Minute) }})
	if err := j.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := db.Pending(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Type != wire.EventPhotoPurged || last.PhotoID != "P1" || string(last.Data) != `{"reason":"uploaded"}` || last.Seq != evs[len(evs)-2].Seq+1 {
		t.Fatalf("last outbox event = %+v, want photo.purged P1 (uploaded) with the next seq", last)
	}
	if got := heard[len(heard)-1]; got != "photo.purged P1" {
		t.Errorf("followers last heard %q, want photo.purged P1", got)
	}
}

// mountTmpfs mounts a small tmpfs (the tests run as root, as the suite's other mounts do).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a %s tmpfs (the tests run as root): %v", size, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes a file until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// On a full disk (a real tmpfs) the session's events are still recorded, from the reserve;
// other events are refused and counted; once space returns the reserve is made again, one
// outbox.failed says what was lost, and the storage part is ok again.
func TestFullDiskKeepsTheSessionEvents(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, "2m")
	db := openDB(t, dir)
	tr := health.New(nil)
	var logs syncbuf.Buffer
	rec := recorder.New(recorder.Options{DB: db, Health: tr, Reserve: filepath.Join(dir, "reserve"), ReserveBytes: 512 << 10,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if st, err := os.Stat(filepath.Join(dir, "reserve")); err != nil || st.Size() != 512<<10 {
		t.Fatalf("reserve file: %v %v", st, err)
	}
	changes := 0
	tr.OnChange(func(health.Report) { changes++ })
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	// Fill what SQLite can still use too: append ordinary events until one fails.
	for i := 0; ; i++ {
		if err := rec.Append(ctx, session.Event{Type: wire.EventQRShown, At: t0, PhotoID: fmt.Sprint(i)}); err != nil {
			break
		}
		if i > 10_000 {
			t.Fatal("the disk never filled")
		}
	}
	if s, _ := tr.State(wire.PartStorage); s != "failing" {
		t.Errorf("storage = %s on a full disk, want failing", s)
	}
	var essential []session.Event
	for i := 0; i < 200; i++ {
		sid := fmt.Sprintf("S%03d", i)
		essential = append(essential,
			session.Event{Type: wire.EventSessionOpened, At: t0, SessionID: sid},
			session.Event{Type: wire.EventSessionClosed, At: t0.Add(time.Second), SessionID: sid, Data: map[string]any{"reason": "left", "photos": 0}})
	}
	for _, ev := range essential {
		if err := rec.Append(ctx, ev); err != nil {
			t.Fatalf("%s %s on a full disk: %v (the reserve is for these)", ev.Type, ev.SessionID, err)
		}
	}
	for i := 0; i < 50; i++ {
		if err := rec.Append(ctx, session.Event{Type: wire.EventQRShown, At: t0}); err == nil {
			t.Fatal("an ordinary event was recorded into the reserve's space")
		}
	}
	// The health (and the fleet status and log that follow it) hears of the failure when it
	// starts or its error changes, not once for every event lost.
	if changes > 4 {
		t.Errorf("the storage part changed %d times while the disk stayed full, want a few", changes)
	}
	if _, err := os.Stat(filepath.Join(dir, "reserve")); !os.IsNotExist(err) {
		t.Errorf("reserve still in place on a full disk: %v", err)
	}
	os.Remove(filler)
	rec.Append(ctx, session.Event{Type: wire.EventQRShown, At: t0}) // space again
	evs, err := db.Pending(ctx, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	closed, failed := 0, 0
	for _, e := range evs {
		switch e.Type {
		case wire.EventSessionClosed:
			closed++
		case wire.EventOutboxFailed:
			failed++
		}
	}
	if closed != 200 || failed != 1 {
		t.Errorf("outbox holds %d session.closed and %d outbox.failed, want 200 and 1", closed, failed)
	}
	if s, reason := tr.State(wire.PartStorage); s != wire.HealthOK {
		t.Errorf("storage = %s (%s) once space returned, want ok", s, reason)
	}
	if _, err := os.Stat(filepath.Join(dir, "reserve")); err != nil {
		t.Errorf("reserve not made again once space returned: %v", err)
	}
	if rec.Failures() == 0 {
		t.Error("no failure counted")
	}
	if c := strings.Count(logs.String(), "cannot record events"); c != 1 {
		t.Errorf("the failures were logged %d times, want once", c)
	}
}
