package evalset

import (
	"crypto/sha256"
	"runtime"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// TestSetCoversTheCases checks the ground truth of every script against what the clip is meant
// to show, so a change to a script cannot quietly drop a case from the evaluation.
func TestSetCoversTheCases(t *testing.T) {
	dur := func(v Visit) time.Duration { return v.Departure - v.Arrival }
	checks := map[string]func(Truth) bool{
		"walk-in-stay-leave": func(tr Truth) bool { return len(tr.Visits) == 1 && dur(tr.Visits[0]) > 5*time.Second },
		"passer-by": func(tr Truth) bool {
			return len(tr.Visits) == 1 && dur(tr.Visits[0]) < 800*time.Millisecond // under the 1 s dwell
		},
		"motion-no-person": func(tr Truth) bool { return len(tr.Visits) == 0 },
		"twirl":            func(tr Truth) bool { return len(tr.Visits) == 1 && dur(tr.Visits[0]) > 6*time.Second },
		"two-visits": func(tr Truth) bool {
			return len(tr.Visits) == 2 && tr.Visits[1].Arrival-tr.Visits[0].Departure > 4*time.Second // grace 3 s + close tolerance
		},
		"far-pedestrians": func(tr Truth) bool { return len(tr.Visits) == 0 },
	}
	specs := Specs()
	if len(specs) != len(checks) {
		t.Errorf("%d clips, want %d", len(specs), len(checks))
	}
	for _, s := range specs {
		tr := TruthOf(s)
		check, ok := checks[s.Name]
		if !ok || !check(tr) {
			t.Errorf("clip %s: truth %+v does not show what the clip is for", s.Name, tr.Visits)
		}
		// A visit that opens a session must leave room for its close: grace 3 s + 1 s tolerance.
		if v := tr.Visits; len(v) > 0 && dur(v[len(v)-1]) > time.Second && v[len(v)-1].Departure+4*time.Second > s.Duration {
			t.Errorf("clip %s ends %v after the last departure, want at least 4 s", s.Name, s.Duration-v[len(v)-1].Departure)
		}
	}
}

// TestTwirlHidesTheFaceAndPedestriansAreSmall: the twirl script hides the face for about 1.5 s, and far pedestrians
// have faces under the default minimum (0.08 of the frame width).
func TestTwirlHidesTheFaceAndPedestriansAreSmall(t *testing.T) {
	for _, s := range Specs() {
		var hidden time.Duration
		for i := 0; i < TruthOf(s).Frames; i++ {
			for _, p := range s.Scene(frameTime(i)).People {
				if p.Hidden {
					hidden += time.Second / FPS
				}
				if s.Name == "far-pedestrians" && float64(faceBox(p).Dx()) >= 0.08*Width {
					t.Errorf("far pedestrian face %d px wide, want under %v", faceBox(p).Dx(), 0.08*Width)
				}
			}
		}
		if s.Name == "twirl" && (hidden < 1400*time.Millisecond || hidden > 1600*time.Millisecond) {
			t.Errorf("twirl hides the face for %v, want about 1.5 s", hidden)
		}
	}
}

// TestRoomSetCoversTheCases checks the fitting-room scripts against what each clip is for.
func TestRoomSetCoversTheCases(t *testing.T) {
	dur := func(v Visit) time.Duration { return v.Departure - v.Arrival }
	one := func(tr Truth) bool { return len(tr.Visits) == 1 && dur(tr.Visits[0]) > 3*time.Second }
	none := func(tr Truth) bool { return len(tr.Visits) == 0 }
	checks := map[string]func(Truth) bool{
		"room-walk-in": one, "room-empty-poster-garments": none, "room-corridor": none,
		"room-curtain-swings-after": one, "room-turn-away": one, "room-light-ramp": one, "room-dim": one, "room-close": one,
		"room-two-shoppers": func(tr Truth) bool {
			// A different shopper's face in view within the 3 s exit grace of the first one's.
			return len(tr.Visits) == 2 && tr.Visits[1].Arrival-tr.Visits[0].Departure < 3*time.Second
		},
	}
	specs := RoomSpecs()
	if len(specs) != len(checks) {
		t.Errorf("%d clips, want %d", len(specs), len(checks))
	}
	for _, s := range specs {
		tr := RoomTruth(s)
		if check, ok := checks[s.Name]; !ok || !check(tr) {
			t.Errorf("clip %s: truth %+v does not show what the clip is for", s.Name, tr.Visits)
		}
		if v := tr.Visits; len(v) > 0 && v[len(v)-1].Departure+4*time.Second > s.Duration {
			t.Errorf("clip %s ends %v after the last departure, want at least 4 s", s.Name, s.Duration-v[len(v)-1].Departure)
		}
		var away time.Duration
		for i := 0; i < tr.Frames; i++ {
			sc := s.Scene(frameTime(i))
			for _, p := range sc.Shoppers {
				if p.Away {
					away += time.Second / FPS
				}
			}
			for _, p := range sc.Passers {
				if w := shopperFace(p).Dx(); float64(w) >= 0.08*Width {
					t.Errorf("%s: a passer-by's face is %d px wide, want under the 0.08 minimum", s.Name, w)
				}
			}
		}
		if s.Name == "room-turn-away" && (away < 5900*time.Millisecond || away > 6100*time.Millisecond) {
			t.Errorf("turn-away: turned away for %v, want 6 s", away)
		}
	}
}

// The set is reproducible: the shopper cut out of the photo is the same whatever OpenCV's
// random state on the thread was (grabCut seeds its colour models from it; the generator
// used to make some clips differ from run to run, by which thread a clip happened to run on).
func TestCutOutIsReproducible(t *testing.T) {
	runtime.LockOSThread() // this thread's random state is the one moved on below
	defer runtime.UnlockOSThread()
	photo := gocv.IMRead("../../../testdata/face.jpg", gocv.IMReadColor)
	defer photo.Close()
	var sums [2][32]byte
	for i := range sums {
		person, mask := cutOut(photo)
		sums[i] = sha256.Sum256(append(person.ToBytes(), mask.ToBytes()...))
		person.Close()
		mask.Close()
		m := gocv.NewMatWithSize(64, 64, gocv.MatTypeCV8U)
		gocv.RandU(&m, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 0, 0, 0))
		m.Close()
	}
	if sums[0] != sums[1] {
		t.Errorf("the cut-out differs after OpenCV's random state moved: %x vs %x", sums[0][:8], sums[1][:8])
	}
}
