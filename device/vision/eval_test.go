package vision

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/device/vision/evalset"
	"github.com/fitmirror/fitmirror/internal/wire"
)

var (
	evalOnce  sync.Once
	evalDir   string
	evalClips []evalset.Clip
	evalErr   error
)

// evalSet generates the presence evaluation set once per test binary.
func evalSet(tb testing.TB) []evalset.Clip {
	tb.Helper()
	evalOnce.Do(func() {
		if evalDir, evalErr = os.MkdirTemp("", "fitmirror-eval-"); evalErr != nil {
			return
		}
		if evalClips, evalErr = evalset.Generate(facePhoto, evalDir); evalErr != nil {
			return
		}
		var rooms []evalset.Clip
		rooms, evalErr = evalset.GenerateRooms(facePhoto, evalDir)
		evalClips = append(evalClips, rooms...)
	})
	if evalErr != nil {
		tb.Fatal(evalErr)
	}
	return evalClips
}

// TestEvaluationSet runs replay on every clip of both evaluation sets (the first one and the
// fitting-room set) with the default settings and checks the sessions: one per visit that
// lasts longer than the dwell, none for passers-by, motion, far pedestrians, a corridor, a
// poster or a light ramp; each opened within +0.8 s of arrival + dwell and closed within
// +1.0 s of departure + grace — or, when another shopper arrives within the grace, after the
// first one left and before the second one's session opens.
func TestEvaluationSet(t *testing.T) {
	pc := DefaultPresence
	for _, clip := range evalSet(t) {
		t.Run(clip.Truth.Name, func(t *testing.T) {
			t.Parallel()
			var events []ReplayEvent
			sum, err := Replay(ReplayOptions{Source: clip.Path, Presence: pc}, func(e ReplayEvent) error {
				events = append(events, e)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("truth %+v", clip.Truth.Visits)
			t.Logf("events %+v", events)
			t.Logf("summary %+v", sum)
			frame := time.Duration(float64(time.Second) / clip.Truth.FPS)
			var want []evalset.Visit
			for _, v := range clip.Truth.Visits {
				if v.Departure-v.Arrival > pc.EnterDwell+frame {
					want = append(want, v)
				}
			}
			if len(events) != 2*len(want) {
				t.Fatalf("replay gave %d events, want %d sessions (open and close each) for visits %v", len(events), len(want), want)
			}
			for i, v := range want {
				open, closed := events[2*i], events[2*i+1]
				if open.Type != wire.EventSessionOpened || closed.Type != wire.EventSessionClosed || open.SessionID != closed.SessionID {
					t.Fatalf("session %d: events %+v, %+v; want opened then closed with one ID", i, open, closed)
				}
				checkWithin(t, "opened", open.TMs, v.Arrival+pc.EnterDwell-frame, v.Arrival+pc.EnterDwell+800*time.Millisecond)
				earliest := v.Departure + pc.ExitGrace - frame
				if i+1 < len(want) && want[i+1].Arrival < v.Departure+pc.ExitGrace {
					earliest = v.Departure // a newcomer within the grace closes it early
					checkWithin(t, "closed", closed.TMs, earliest, want[i+1].Arrival+pc.EnterDwell)
				}
				checkWithin(t, "closed", closed.TMs, earliest, v.Departure+pc.ExitGrace+time.Second)
				if closed.Reason != "absent" {
					t.Errorf("session %d closed with reason %q, want absent", i, closed.Reason)
				}
			}
			if sum.Frames != clip.Truth.Frames {
				t.Errorf("summary frames = %d, want %d", sum.Frames, clip.Truth.Frames)
			}
		})
	}
}

// TestTwirlBodyEvidence replays the twirl with a grace shorter than the hidden face (1 s <
// 1.5 s): the swaying body keeps the session open with body evidence on, and without it the
// session ends during the twirl. It shows the body evidence works on real frames.
func TestTwirlBodyEvidence(t *testing.T) {
	var twirl evalset.Clip
	for _, c := range evalSet(t) {
		if c.Truth.Name == "twirl" {
			twirl = c
		}
	}
	count := func(pc PresenceConfig) (opened int) {
		_, err := Replay(ReplayOptions{Source: twirl.Path, Presence: pc}, func(e ReplayEvent) error {
			if e.Type == wire.EventSessionOpened {
				opened++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return opened
	}
	short := PresenceConfig{EnterDwell: 500 * time.Millisecond, ExitGrace: time.Second}
	withBody := short
	withBody.BodyHold = 5 * time.Second
	if got := count(withBody); got != 1 {
		t.Errorf("twirl with body evidence (grace 1 s): %d sessions, want 1", got)
	}
	if got := count(short); got != 2 {
		t.Errorf("twirl without body evidence (grace 1 s): %d sessions, want 2 (the hidden face ends the first)", got)
	}
}
