package window_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/internal/window"
)

func TestWindow(t *testing.T) {
	at := func(hm string) time.Time {
		tm, _ := time.Parse("15:04", hm)
		return time.Date(2026, 12, 7, tm.Hour(), tm.Minute(), 0, 0, time.Local)
	}
	for _, tt := range []struct {
		w       string
		in, out []string
	}{
		{"02:00-05:00", []string{"02:00", "04:59"}, []string{"01:59", "05:00", "12:00"}},
		{"23:30-01:00", []string{"23:30", "00:00", "00:59"}, []string{"01:00", "23:29", "12:00"}},
		{"", []string{"00:00", "13:37"}, nil},
	} {
		w, err := window.Parse(tt.w)
		if err != nil {
			t.Fatalf("%q: %v", tt.w, err)
		}
		if w.String() != tt.w {
			t.Errorf("%q prints as %q", tt.w, w.String())
		}
		for _, hm := range tt.in {
			if !w.Contains(at(hm)) {
				t.Errorf("%q does not contain %s", tt.w, hm)
			}
		}
		for _, hm := range tt.out {
			if w.Contains(at(hm)) {
				t.Errorf("%q contains %s", tt.w, hm)
			}
		}
	}
	for _, bad := range []string{"2-5", "02:00", "25:00-03:00", "02:00-02:00", "02:00-05:00-06:00"} {
		if _, err := window.Parse(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v, want an error naming it", bad, err)
		}
	}
}
