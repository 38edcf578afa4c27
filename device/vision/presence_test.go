package vision

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/session"
)

type Transition = session.Transition

const (
	NoChange = session.NoChange
	Entered  = session.Entered
	Left     = session.Left
)

// script builds sightings at 10 fps from a string: 'F' a frame with a face, '.' without,
// 'B' no face but the shopper's body where they stood, 'M' motion elsewhere (which is not a
// sighting at all).
func script(s string) []Sighting {
	t0 := time.Unix(1_700_000_000, 0)
	obs := make([]Sighting, len(s))
	for i, c := range s {
		obs[i] = Sighting{At: t0.Add(time.Duration(i) * 100 * time.Millisecond)}
		switch c {
		case 'F':
			obs[i].Face = true
		case 'B':
			obs[i].Body = true
		}
	}
	return obs
}

// transitions runs a script through a tracker and returns frame index → transition.
func transitions(cfg PresenceConfig, frames string) map[int]Transition {
	p := NewPresence(cfg)
	got := map[int]Transition{}
	for i, o := range script(frames) {
		if tr := p.Observe(o); tr != NoChange {
			got[i] = tr
		}
	}
	return got
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
		{"a face missed for under a second keeps the session", "FFFFFFFFFFF" + "........" + "FFFF" + "..............................",
			map[int]Transition{10: Entered, 52: Left}},
		{"someone arriving after the shopper was gone a second is a new session", "FFFFFFFFFFF" + "..............." + "FFFFFFFFFFFFFFF",
			map[int]Transition{10: Entered, 26: Left, 36: Entered}},
		{"two visits", "FFFFFFFFFFF" + "..............................FFFFFFFFFFF",
			map[int]Transition{10: Entered, 40: Left, 51: Entered}},
		{"body evidence alone never opens a session", "BBBBBBBBBBBBBBBBBBBB", map[int]Transition{}},
		{"motion alone never opens a session", "MMMMMMMMMMMMMMMMMMMM", map[int]Transition{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, transitions(cfg, tt.frames)); diff != "" {
				t.Errorf("transitions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPresenceBodyEvidence(t *testing.T) {
	// A short grace (1 s) makes the difference visible: the face is hidden for 2.5 s.
	const (
		visit  = "FFFFFFFFFFF"               // 0..10: enters at 10
		hidden = "BBBBBBBBBBBBBBBBBBBBBBBBB" // 11..35: face hidden, body moving
		back   = "FFFFF"                     // 36..40
		gone   = "...................."      // 41..: nobody
	)
	tests := []struct {
		name   string
		cfg    PresenceConfig
		frames string
		want   map[int]Transition
	}{
		{"body keeps the session through a hidden face", PresenceConfig{EnterDwell: time.Second, ExitGrace: time.Second, BodyHold: 5 * time.Second},
			visit + hidden + back + gone, map[int]Transition{10: Entered, 50: Left}},
		{"without body hold the hidden face ends the session", PresenceConfig{EnterDwell: time.Second, ExitGrace: time.Second},
			visit + hidden + back + gone, map[int]Transition{10: Entered, 20: Left}}, // the 0.4 s back is under the dwell
		{"motion away from the body does not hold", PresenceConfig{EnterDwell: time.Second, ExitGrace: time.Second, BodyHold: 5 * time.Second},
			visit + "MMMMMMMMMMMMMMMMMMMMMMMMM", map[int]Transition{10: Entered, 20: Left}},
		{"body evidence holds at most BodyHold after the last face", PresenceConfig{EnterDwell: time.Second, ExitGrace: time.Second, BodyHold: 2 * time.Second},
			// last face at 10; body counts until 30 (2 s); leave 1 s later at 40.
			visit + "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", map[int]Transition{10: Entered, 40: Left}},
		{"turned away for 6 s, body where they stood: one session", PresenceConfig{EnterDwell: time.Second, ExitGrace: 3 * time.Second, BodyHold: 10 * time.Second},
			visit + strings.Repeat("B", 60) + "FFFFF" + "..............................", map[int]Transition{10: Entered, 105: Left}},
		{"grace counts from the last body evidence", PresenceConfig{EnterDwell: time.Second, ExitGrace: time.Second, BodyHold: 5 * time.Second},
			visit + "BBBBB" + "...............", map[int]Transition{10: Entered, 25: Left}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, transitions(tt.cfg, tt.frames)); diff != "" {
				t.Errorf("transitions (-want +got):\n%s", diff)
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

func TestPresenceSetConfigTakesEffectNextObservation(t *testing.T) {
	p := NewPresence(PresenceConfig{EnterDwell: time.Second, ExitGrace: 10 * time.Second})
	obs := script("FFFFFFFFFFF.....")
	for _, o := range obs[:11] {
		p.Observe(o)
	}
	if !p.Present() {
		t.Fatal("not present after the dwell")
	}
	p.Observe(obs[11])
	p.SetConfig(PresenceConfig{EnterDwell: time.Second, ExitGrace: 200 * time.Millisecond})
	if got := p.Observe(obs[12]); got != Left {
		t.Errorf("after shortening the grace to 200 ms, Observe 200 ms after the last face = %v, want left", got)
	}
}
