package hardware

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"periph.io/x/conn/v3/gpio"
)

// step is one sample of a button's level at a time since the start.
type step struct {
	at time.Duration
	l  gpio.Level
}

// bouncy returns the samples of a press (or release) to l at t with contact bounce: the level
// flickers three times in 3 ms before it settles.
func bouncy(t time.Duration, l gpio.Level) []step {
	return []step{{t, l}, {t + time.Millisecond, !l}, {t + 2*time.Millisecond, l}, {t + 3*time.Millisecond, !l}, {t + 4*time.Millisecond, l}}
}

func seq(parts ...[]step) []step {
	var s []step
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

type got struct {
	G  Gesture
	At time.Duration
}

func TestGestures(t *testing.T) {
	const (
		ms  = time.Millisecond
		deb = 30 * ms
		lng = time.Second
		dbl = 400 * ms
		b   = 4 * ms // a bouncy edge settles on its last flicker
	)
	down, up := gpio.Low, gpio.High // buttons to GND with pull-ups
	tests := []struct {
		name   string
		double time.Duration
		steps  []step
		until  time.Duration
		want   []got
	}{
		{
			name:  "bouncy press and release is one press, reported when the release settles",
			steps: seq(bouncy(100*ms, down), bouncy(300*ms, up)),
			until: 2 * time.Second,
			want:  []got{{Press, 300*ms + b + deb}},
		},
		{
			name:  "a glitch shorter than the debounce is nothing",
			steps: []step{{100 * ms, down}, {120 * ms, up}, {500 * ms, down}, {510 * ms, up}},
			until: 2 * time.Second,
			want:  nil,
		},
		{
			name:  "held for the long-press time is a long press while held, and the release adds nothing",
			steps: seq(bouncy(100*ms, down), bouncy(1800*ms, up)),
			until: 3 * time.Second,
			want:  []got{{LongPress, 100*ms + b + lng}},
		},
		{
			name:  "released just before the long-press time is a press",
			steps: seq(bouncy(100*ms, down), bouncy(1050*ms, up)),
			until: 3 * time.Second,
			want:  []got{{Press, 1050*ms + b + deb}},
		},
		{
			name:   "two presses inside the window are a double press",
			double: dbl,
			steps:  seq(bouncy(100*ms, down), bouncy(200*ms, up), bouncy(400*ms, down), bouncy(500*ms, up)),
			until:  2 * time.Second,
			want:   []got{{DoublePress, 500*ms + b + deb}},
		},
		{
			name:   "a lone press waits for the window to close",
			double: dbl,
			steps:  seq(bouncy(100*ms, down), bouncy(200*ms, up)),
			until:  2 * time.Second,
			want:   []got{{Press, 200*ms + b + dbl}},
		},
		{
			name:   "presses further apart than the window are two presses",
			double: dbl,
			steps:  seq(bouncy(100*ms, down), bouncy(200*ms, up), bouncy(700*ms, down), bouncy(800*ms, up)),
			until:  2 * time.Second,
			want:   []got{{Press, 200*ms + b + dbl}, {Press, 800*ms + b + dbl}},
		},
		{
			name:   "a second press starting inside the window counts even if it settles after it",
			double: dbl,
			steps:  seq(bouncy(100*ms, down), bouncy(200*ms, up), bouncy(590*ms, down), bouncy(700*ms, up)),
			until:  2 * time.Second,
			want:   []got{{DoublePress, 700*ms + b + deb}},
		},
		{
			name:   "a press then press-and-hold is a press and a long press",
			double: dbl,
			steps:  seq(bouncy(100*ms, down), bouncy(200*ms, up), bouncy(400*ms, down), bouncy(2000*ms, up)),
			until:  3 * time.Second,
			want:   []got{{Press, 400*ms + b + lng}, {LongPress, 400*ms + b + lng}},
		},
		{
			name:  "deadlines pass without samples (the poll catches up)",
			steps: []step{{100 * ms, down}},
			until: 5 * time.Second,
			want:  []got{{LongPress, 100*ms + lng}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
			g := newGestures("capture", gpio.Low, deb, lng, tt.double)
			var evs []ButtonEvent
			for _, s := range tt.steps {
				evs = append(evs, g.sample(s.l, t0.Add(s.at))...)
			}
			evs = append(evs, g.advance(t0.Add(tt.until))...)
			var out []got
			for _, e := range evs {
				if e.Button != "capture" {
					t.Errorf("event %+v: button %q, want capture", e, e.Button)
				}
				out = append(out, got{e.Gesture, e.At.Sub(t0)})
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("gestures (-want +got):\n%s", diff)
			}
			if n := g.next(); !n.IsZero() {
				t.Errorf("next() = %v after all deadlines, want none pending", n.Sub(t0))
			}
		})
	}
}

func TestActions(t *testing.T) {
	tests := []struct {
		button string
		g      Gesture
		want   Action
	}{
		{ButtonCapture, Press, ActionCapture},
		{ButtonCapture, DoublePress, ActionCompare},
		{ButtonCapture, LongPress, ActionNone},
		{ButtonCompare, Press, ActionCompare},
		{ButtonCompare, LongPress, ActionNone},
		{ButtonStaff, Press, ActionStaff},
		{ButtonStaff, LongPress, ActionStaff},
	}
	for _, tt := range tests {
		if got := (ButtonEvent{Button: tt.button, Gesture: tt.g}).Action(); got != tt.want {
			t.Errorf("ButtonEvent{%s, %s}.Action() = %q, want %q", tt.button, tt.g, got, tt.want)
		}
	}
}
