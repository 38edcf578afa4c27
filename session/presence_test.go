package session

import (
	"testing"
	"time"
)

// script builds observations at 10 fps from a string: 'F' a frame with a face, '.' without.
func script(s string) []Observation {
	t0 := time.Unix(1_700_000_000, 0)
	obs := make([]Observation, len(s))
	for i, c := range s {
		obs[i] = Observation{At: t0.Add(time.Duration(i) * 100 * time.Millisecond)}
		if c == 'F' {
			obs[i].Faces = 1
		}
	}
	return obs
}

func TestPresence(t *testing.T) {
	cfg := PresenceConfig{EnterDwell: time.Second, ExitGrace: 3 * time.Second}
	tests := []struct {
		name   string
		frames string
		want   map[int]Transition // frame index → transition
	}{
		{"nobody", "..........", map[int]Transition{}},
		{"passer-by under the dwell", "..FFFFFFF.......", map[int]Transition{}},
		{"enter after dwell", "..FFFFFFFFFFFF", map[int]Transition{12: Entered}},
		{"single missed frames do not restart the dwell", "..FF.FF.FFFFFF", map[int]Transition{12: Entered}},
		{"a long gap restarts the dwell", "..FFFF.......FFFFFFFFFFF", map[int]Transition{23: Entered}},
		{"leave after grace", "FFFFFFFFFFF" + "..............................F",
			map[int]Transition{10: Entered, 40: Left}},
		{"a twirl shorter than the grace keeps the session", "FFFFFFFFFFF" + "...................." + "FFFF" + "..............................",
			map[int]Transition{10: Entered, 64: Left}},
		{"two visits", "FFFFFFFFFFF" + "..............................FFFFFFFFFFF",
			map[int]Transition{10: Entered, 40: Left, 51: Entered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPresence(cfg)
			for i, o := range script(tt.frames) {
				got := p.Observe(o)
				if want := tt.want[i]; got != want {
					t.Errorf("frame %d: Observe = %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestPresenceZeroDwellOpensOnFirstFace(t *testing.T) {
	p := NewPresence(PresenceConfig{EnterDwell: 0, ExitGrace: time.Second})
	obs := script(".F")
	if got := p.Observe(obs[0]); got != NoChange {
		t.Fatalf("Observe(no face) = %v, want none", got)
	}
	if got := p.Observe(obs[1]); got != Entered {
		t.Fatalf("Observe(face) = %v, want entered", got)
	}
}
