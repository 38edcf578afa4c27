package main

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

// TestCameraEvents: ok → lost is one camera.lost (recorded, then told to the followers), lost →
// frozen is no new event, frozen → ok is camera.restored.
func TestCameraEvents(t *testing.T) {
	db, err := store.OpenDB(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := &recorder{db: db, log: slog.New(slog.DiscardHandler)}
	var got []string
	rec.follow(func(ev session.Event) { got = append(got, ev.Type+":"+toString(ev.Data["status"])) })
	on := cameraEvents(rec)
	on(camera.StatusLost, "no frames for 5s")
	on(camera.StatusFrozen, "identical frames")
	on(camera.StatusOK, "frames again")
	want := []string{"camera.lost:lost", "camera.restored:"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("events = %q, want %q", got, want)
	}
	if n, _ := db.Depth(t.Context()); n != 2 {
		t.Errorf("outbox holds %d events, want 2 (recorded before the followers)", n)
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
