// Package window is a daily time window, "02:00-05:00" (it may wrap midnight): when a mirror
// installs updates (update.window) and when a rollout sends its commands (--window).
package window

import (
	"fmt"
	"strings"
	"time"
)

// Window is a daily window of local time, "02:00-05:00"; it may wrap midnight. The zero
// Window is any time.
type Window struct {
	from, to int // minutes after midnight
	set      bool
}

// Parse reads "HH:MM-HH:MM"; "" is any time.
func Parse(s string) (Window, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Window{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	from, err1 := parseClock(a)
	to, err2 := parseClock(b)
	if !ok || err1 != nil || err2 != nil {
		return Window{}, fmt.Errorf("%q: want HH:MM-HH:MM, e.g. 02:00-05:00", s)
	}
	if from == to {
		return Window{}, fmt.Errorf("%q: the window is empty (leave it empty for any time)", s)
	}
	return Window{from: from, to: to, set: true}, nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Contains reports whether t (in its own location) is inside the window.
func (w Window) Contains(t time.Time) bool {
	if !w.set {
		return true
	}
	m := t.Hour()*60 + t.Minute()
	if w.from < w.to {
		return m >= w.from && m < w.to
	}
	return m >= w.from || m < w.to
}

// String is the window as written.
func (w Window) String() string {
	if !w.set {
		return ""
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.from/60, w.from%60, w.to/60, w.to%60)
}
