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
		// The contracts' timestamps whatever the time: milliseconds always, UTC, no more digits.
		{display.Screen{Scene: display.SceneQR, QR: &display.QR{Content: "x", ExpiresAt: time.Date(2026, 11, 20, 18, 0, 0, 0, time.FixedZone("CST", 8*3600)),
			IssuedAt: time.Date(2026, 11, 20, 9, 59, 0, 123456789, time.UTC)}},
			`{"scene":"qr","qr":{"content":"x","expires_at":"2026-11-20T10:00:00.000Z","issued_at":"2026-11-20T09:59:00.123Z"}}`},
		{display.Screen{Scene: display.SceneCompare, PhotoID: "p1", CompareID: "p2"},
			`{"scene":"compare","photo_id":"p1","compare_photo_id":"p2"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.s)
		if err != nil || string(b) != tt.want {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", tt.s, b, err, tt.want)
		}
		var back display.Screen
		if err := json.Unmarshal(b, &back); err != nil || (tt.s.QR != nil && !back.QR.ExpiresAt.Equal(tt.s.QR.ExpiresAt.Truncate(time.Millisecond))) {
			t.Errorf("json.Unmarshal(%s) = %+v, %v", b, back, err)
		}
	}
	if b, err := json.Marshal(display.QR{Content: "x", ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Errorf("json.Marshal(QR in year 10000) = %s, want an error", b)
	}
}
