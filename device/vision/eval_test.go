package vision

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/device/vision/evalset"
	"github.com/fitmirror/fitmirror/internal/testexec"
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
			checkSessions(t, pc, clip.Truth, events, sum)
		})
	}
}

// checkSessions checks the replay of a clip against its truth (sessionErrors).
func checkSessions(t *testing.T, pc PresenceConfig, truth evalset.Truth, events []ReplayEvent, sum ReplaySummary) {
	t.Helper()
	t.Logf("truth %+v", truth.Visits)
	t.Logf("events %+v", events)
	t.Logf("summary %+v", sum)
	for _, e := range sessionErrors(pc, truth, events, sum) {
		t.Error(e)
	}
}

// sessionErrors says what is wrong with the replay of a clip against its truth: one session
// per visit that lasts longer than the dwell, opened within +0.8 s of arrival + dwell and
// closed within +1.0 s of departure + grace (or, with a newcomer within the grace, between the
// first one's departure and the newcomer's session), each closed as absent — or, when the
// visit lasts to the clip's end, ended there as end_of_input.
func sessionErrors(pc PresenceConfig, truth evalset.Truth, events []ReplayEvent, sum ReplaySummary) []string {
	var errs []string
	within := func(what string, gotMs int64, lo, hi time.Duration) {
		if got := time.Duration(gotMs) * time.Millisecond; got < lo-time.Millisecond || got > hi {
			errs = append(errs, fmt.Sprintf("%s at %v, want within [%v, %v]", what, got, lo, hi))
		}
	}
	frame := time.Duration(float64(time.Second) / truth.FPS)
	var want []evalset.Visit
	for _, v := range truth.Visits {
		if v.Departure-v.Arrival > pc.EnterDwell+frame {
			want = append(want, v)
		}
	}
	if len(events) != 2*len(want) {
		return append(errs, fmt.Sprintf("replay gave %d events, want %d sessions (open and close each) for visits %v", len(events), len(want), want))
	}
	for i, v := range want {
		open, closed := events[2*i], events[2*i+1]
		if open.Type != wire.EventSessionOpened || closed.Type != wire.EventSessionClosed || open.SessionID != closed.SessionID {
			return append(errs, fmt.Sprintf("session %d: events %+v, %+v; want opened then closed with one ID", i, open, closed))
		}
		within("opened", open.TMs, v.Arrival+pc.EnterDwell-frame, v.Arrival+pc.EnterDwell+800*time.Millisecond)
		earliest := v.Departure + pc.ExitGrace - frame
		if i+1 < len(want) && want[i+1].Arrival < v.Departure+pc.ExitGrace {
			earliest = v.Departure // a newcomer within the grace closes it early
			within("closed", closed.TMs, earliest, want[i+1].Arrival+pc.EnterDwell)
		}
		if end := time.Duration(truth.Frames) * frame; v.Departure >= end-frame {
			// Still there at the last frame: the replay ends the session there.
			within("closed", closed.TMs, end-2*frame, end)
			if closed.Reason != "end_of_input" {
				errs = append(errs, fmt.Sprintf("session %d closed with reason %q, want end_of_input", i, closed.Reason))
			}
			continue
		}
		within("closed", closed.TMs, earliest, v.Departure+pc.ExitGrace+time.Second)
		if closed.Reason != "absent" {
			errs = append(errs, fmt.Sprintf("session %d closed with reason %q, want absent", i, closed.Reason))
		}
	}
	if sum.Frames != truth.Frames {
		errs = append(errs, fmt.Sprintf("summary frames = %d, want %d", sum.Frames, truth.Frames))
	}
	return errs
}

// replayEvents replays opts and returns the session events and the summary.
func replayEvents(t *testing.T, opts ReplayOptions) ([]ReplayEvent, ReplaySummary) {
	t.Helper()
	var events []ReplayEvent
	sum, err := Replay(opts, func(e ReplayEvent) error {
		events = append(events, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events, sum
}

// startInView is truth as seen by a replay that starts at start: the clip's frames before it
// are gone, visits that ended before it too, and a visit under way is one that began at 0.
func startInView(truth evalset.Truth, start time.Duration) evalset.Truth {
	out := truth
	out.Name = fmt.Sprintf("%s@%v", truth.Name, start)
	out.Frames = truth.Frames - int(math.Ceil(start.Seconds()*truth.FPS-1e-9))
	out.Visits = nil
	for _, v := range truth.Visits {
		if v.Departure <= start {
			continue
		}
		out.Visits = append(out.Visits, evalset.Visit{Arrival: max(0, v.Arrival-start), Departure: v.Departure - start})
	}
	return out
}

// startInViewGaps are the start-in-view variants that are still wrong (issue #27), with why.
// TestStartInView fails when one of them becomes right, so that this list only shrinks.
var startInViewGaps = map[string]string{
	// The first set's shopper is a rectangle cut from the photo, its own background included, over
	// most of the frame, swaying 18 px as a whole while twirling. At 1/4 the twirl lets their start
	// place go, and when they leave, the light fit takes the revealed room for a light change and
	// their ghost is learnt 2.8 s later; at 2/4 (mid-twirl) the body is foreground too, so they are
	// not taken for someone learnt at start and their ghost stays.
	"twirl@1/4": "rectangle shopper", "twirl@2/4": "rectangle shopper",
	// Started with the shopper's back to the camera: a face for 0.5 s and then none for 6 s (1/4),
	// or no face until 3.7 s (2/4). No session can open by the dwell + 0.8 s without a face.
	"room-turn-away@1/4": "back to the camera at start", "room-turn-away@2/4": "back to the camera at start",
}

// TestStartInView replays every evaluation clip that has a visit from three points inside its
// first long visit (a quarter, half and three quarters of the way through): the shopper is in
// view on the first frame, as after a restart. Each must get its session from the first frame
// (after the dwell) and lose it within the grace after they leave — the room's model must
// neither take them for scenery nor keep them after they have gone. The variants listed in
// startInViewGaps are known to be wrong; they are run and reported, and must stay wrong
// until they are taken off the list.
func TestStartInView(t *testing.T) {
	pc := DefaultPresence
	for _, clip := range evalSet(t) {
		var visit *evalset.Visit
		for i, v := range clip.Truth.Visits {
			if v.Departure-v.Arrival > 3*pc.EnterDwell {
				visit = &clip.Truth.Visits[i]
				break
			}
		}
		if visit == nil {
			continue
		}
		for _, k := range []int{1, 2, 3} {
			start := visit.Arrival + (visit.Departure-visit.Arrival)*time.Duration(k)/4
			start = start.Truncate(time.Second / time.Duration(clip.Truth.FPS))
			truth := startInView(clip.Truth, start)
			name := fmt.Sprintf("%s@%d/4", clip.Truth.Name, k)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				events, sum := replayEvents(t, ReplayOptions{Source: clip.Path, Presence: pc, Start: start})
				checkOrGap(t, name, pc, truth, events, sum)
			})
		}
	}
}

// checkOrGap is checkSessions, except for a variant listed in startInViewGaps, which must
// still be wrong (it is reported, and the test fails once it is right).
func checkOrGap(t *testing.T, name string, pc PresenceConfig, truth evalset.Truth, events []ReplayEvent, sum ReplaySummary) {
	t.Helper()
	gap, known := startInViewGaps[name]
	if !known {
		checkSessions(t, pc, truth, events, sum)
		return
	}
	if errs := sessionErrors(pc, truth, events, sum); len(errs) > 0 {
		t.Logf("known gap (%s): %v; events %+v", gap, errs, events)
		return
	}
	if testexec.Emulated() {
		// The list is kept against the native (amd64) build that make test runs. The arm64 build
		// rounds differently (fused multiply-add, OpenCV's NEON paths), which can tip a variant
		// that misses by a frame or two either way: reported, not failed.
		t.Logf("%s is right on this build though listed (%s)", name, gap)
		return
	}
	t.Errorf("%s is now right: take it off startInViewGaps (%s)", name, gap)
}

// realTruth reads a real clip's truth (present_s intervals, seconds).
func realTruth(t *testing.T, path string) evalset.Truth {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Clip     string       `json:"clip"`
		Frames   int          `json:"frames"`
		FPS      float64      `json:"fps"`
		Present  [][2]float64 `json:"present_s"`
		Expected int          `json:"expected_sessions"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	truth := evalset.Truth{Name: j.Clip, Frames: j.Frames, FPS: j.FPS}
	for _, p := range j.Present {
		sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
		truth.Visits = append(truth.Visits, evalset.Visit{Arrival: sec(p[0]), Departure: sec(p[1])})
	}
	if len(truth.Visits) != j.Expected {
		t.Fatalf("%s: %d visits, expected_sessions %d", path, len(truth.Visits), j.Expected)
	}
	return truth
}

// realClips are the real webcam clips in testdata/real-footage (testdata/NOTICE says where
// they come from).
var realClips = []string{"r-webcam-near-far-hand", "c-webcam-leave-return"}

// TestRealFootage replays the real webcam clips — a man in view from the first frame who
// talks, leans in, steps back and covers his face; a man who comes and goes twice by a cut —
// from their start and from points inside their visits, and checks the sessions against the
// truth.
func TestRealFootage(t *testing.T) {
	pc := DefaultPresence
	for _, name := range realClips {
		base := filepath.Join("..", "..", "testdata", "real-footage", name)
		truth := realTruth(t, base+".json")
		v := truth.Visits[0]
		for k := 0; k < 3; k++ {
			start := v.Arrival + (v.Departure-v.Arrival)*time.Duration(k)/3
			start = start.Truncate(time.Second / time.Duration(truth.FPS))
			tr := startInView(truth, start)
			label := fmt.Sprintf("%s@%d/3", name, k)
			t.Run(label, func(t *testing.T) {
				t.Parallel()
				events, sum := replayEvents(t, ReplayOptions{Source: base + ".avi", Presence: pc, Start: start})
				checkOrGap(t, label, pc, tr, events, sum)
			})
		}
	}
}
