package display_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/displaytest"
)

func TestMulti(t *testing.T) {
	a, b := &displaytest.Recorder{}, &displaytest.Recorder{}
	var r display.Renderer = display.Multi{a, b}
	want := []display.Screen{{Scene: display.SceneWelcome}, {Scene: display.SceneCountdown, Countdown: 3}, display.Idle}
	for _, s := range want {
		r.Show(s)
	}
	for i, rec := range []*displaytest.Recorder{a, b} {
		if diff := cmp.Diff(want, rec.Screens()); diff != "" {
			t.Errorf("renderer %d screens (-want +got):\n%s", i, diff)
		}
	}
}

// TestScreenJSON: the docs/contracts.md §3 shape, with the optional fields this package added
// (compare_photo_id, qr.issued_at) left out when unset.
func TestScreenJSON(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 123e6, time.UTC)
	tests := []struct {
		s    display.Screen
		want string
	}{
		{display.Idle, `{"scene":"idle"}`},
		{display.Screen{Scene: display.SceneQR, PhotoID: "p1", QR: &display.QR{Content: "x", ExpiresAt: at}},
			`{"scene":"qr","photo_id":"p1","qr":{"content":"x","expires_at":"2026-11-20T10:00:00.123Z"}}`},
		{display.Screen{Scene: display.SceneQR, QR: &display.QR{Content: "x", ExpiresAt: at, IssuedAt: at.Add(-time.Minute)}},
			`{"scene":"qr","qr":{"content":"x","expires_at":"2026-11-20T10:00:00.123Z","issued_at":"2026-11-20T09:59:00.123Z"}}`},
		{display.Screen{Scene: display.SceneCompare, PhotoID: "p1", CompareID: "p2"},
			`{"scene":"compare","photo_id":"p1","compare_photo_id":"p2"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.s)
		if err != nil || string(b) != tt.want {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", tt.s, b, err, tt.want)
		}
	}
}
