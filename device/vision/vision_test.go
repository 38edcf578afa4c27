package vision

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/vision/evalset"
)

const facePhoto = "../../testdata/face.jpg"

func TestDetectorFindsTheFace(t *testing.T) {
	d, err := NewDetector(DetectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	img := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer img.Close()
	got := d.Detect(img)
	if len(got.Faces) != 1 {
		t.Fatalf("Detect(face.jpg) found %d faces %v, want 1", len(got.Faces), got.Faces)
	}
	// The face measured at full resolution is (235,155)-(459,379); the downscaled detector
	// must land on it (overlap over half of the union).
	want := image.Rect(235, 155, 459, 379)
	if iou := overlap(got.Primary, want); iou < 0.5 {
		t.Errorf("Primary = %v, want near %v (IoU %.2f)", got.Primary, want, iou)
	}

	empty := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer empty.Close()
	if got := d.Detect(empty); len(got.Faces) != 0 || !got.Primary.Empty() {
		t.Errorf("Detect(black frame) = %v, want no faces", got.Faces)
	}
}

func TestDetectorMinFaceIgnoresSmallFaces(t *testing.T) {
	// The same photo shrunk to a quarter: the face is 56 px of 640, under a 0.12 minimum.
	img := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer img.Close()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(img, &small, image.Pt(160, 120), 0, 0, gocv.InterpolationArea)
	canvas := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer canvas.Close()
	roi := canvas.Region(image.Rect(240, 180, 400, 300))
	small.CopyTo(&roi)
	roi.Close()
	strict, err := NewDetector(DetectorOptions{MinFace: 0.12})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	if got := strict.Detect(canvas); len(got.Faces) != 0 {
		t.Errorf("MinFace 0.12: Detect(far face) = %v, want none", got.Faces)
	}
}

func TestNewDetectorBadCascade(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.xml")
	os.WriteFile(bad, []byte("<not a cascade/>"), 0o644)
	for _, path := range []string{"/nonexistent/cascade.xml", bad} {
		if _, err := NewDetector(DetectorOptions{Cascade: path}); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("NewDetector(%q) = %v, want an error naming the file", path, err)
		}
	}
}

func TestPrimaryPrefersTheCentre(t *testing.T) {
	frame := image.Pt(640, 480)
	edge := image.Rect(0, 0, 130, 130)       // bigger, but at the corner
	centre := image.Rect(270, 190, 390, 310) // in front of the glass
	if got := Primary([]image.Rectangle{edge, centre}, frame); got != centre {
		t.Errorf("Primary = %v, want the centred face %v", got, centre)
	}
}

// walkIn is the evaluation set's walk-in/stay/leave clip (generated once per test binary).
func walkIn(t *testing.T) evalset.Clip {
	t.Helper()
	for _, c := range evalSet(t) {
		if c.Truth.Name == "walk-in-stay-leave" {
			return c
		}
	}
	t.Fatal("no walk-in-stay-leave clip in the evaluation set")
	return evalset.Clip{}
}

// TestMain also checks, when built with -tags matprofile, that every gocv.Mat the tests and
// the code under test made was closed: `go test -tags matprofile ./device/...`.
func TestMain(m *testing.M) {
	// Most of the evaluation is of BlazeFace, which scripts/setup.sh fetches into the git-ignored
	// models/ (a fresh worktree has none). Without it the detector would fall back to Haar and
	// tests would fail for reasons far from the cause: say it once, first.
	if DefaultModel() == "" {
		fmt.Fprintf(os.Stderr, "FAIL: no BlazeFace model in %v: run scripts/setup.sh (or copy models/ from another checkout)\n", ModelPaths())
		os.Exit(1)
	}
	mats := matCount()
	code := m.Run()
	if err := matLeaks(mats); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		code = 1
	}
	if evalDir != "" {
		os.RemoveAll(evalDir)
	}
	os.Exit(code)
}

func TestReplayWalkIn(t *testing.T) {
	c := walkIn(t)
	clip, truth, visit := c.Path, c.Truth, c.Truth.Visits[0]
	pc := DefaultPresence
	var events []ReplayEvent
	sum, err := Replay(ReplayOptions{Source: clip, Presence: pc}, func(e ReplayEvent) error {
		events = append(events, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Type != "session.opened" || events[1].Type != "session.closed" || events[1].Reason != "absent" {
		t.Fatalf("Replay events = %+v, want one session.opened and one session.closed (absent)", events)
	}
	if events[0].SessionID != events[1].SessionID || len(events[0].SessionID) != 26 {
		t.Errorf("session IDs %q, %q: want the same 26-char ULID", events[0].SessionID, events[1].SessionID)
	}
	frame := time.Duration(float64(time.Second) / truth.FPS)
	checkWithin(t, "opened", events[0].TMs, visit.Arrival+pc.EnterDwell-frame, visit.Arrival+pc.EnterDwell+800*time.Millisecond)
	checkWithin(t, "closed", events[1].TMs, visit.Departure+pc.ExitGrace-frame, visit.Departure+pc.ExitGrace+time.Second)
	if sum.Frames != truth.Frames {
		t.Errorf("summary frames = %d, want %d", sum.Frames, truth.Frames)
	}
	if sum.DetectMsP50 <= 0 || sum.DetectMsP95 < sum.DetectMsP50 || sum.CPUMsPerFrame <= 0 {
		t.Errorf("summary = %+v, want positive detect p50 ≤ p95 and CPU per frame", sum)
	}
}

func TestReplayIDsAreDeterministicULIDs(t *testing.T) {
	a, b := replayID(3533*time.Millisecond, 1), replayID(3533*time.Millisecond, 1)
	if a != b || len(a) != 26 {
		t.Errorf("replayID = %q, %q; want the same 26-char ULID twice", a, b)
	}
	if c := replayID(3533*time.Millisecond, 2); c == a {
		t.Errorf("replayID for the second session = %q, same as the first", c)
	}
}

func TestReplayEndOfInputClosesSession(t *testing.T) {
	c := walkIn(t)
	clip, truth := c.Path, c.Truth
	// A grace longer than the empty tail: the session is still open when the input ends.
	var events []ReplayEvent
	_, err := Replay(ReplayOptions{Source: clip, Presence: PresenceConfig{EnterDwell: time.Second, ExitGrace: 30 * time.Second}},
		func(e ReplayEvent) error { events = append(events, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	lastMs := (time.Duration(float64(truth.Frames-1) / truth.FPS * float64(time.Second))).Milliseconds()
	if len(events) != 2 || events[1].Reason != "end_of_input" || events[1].TMs != lastMs {
		t.Errorf("events = %+v, want a close with end_of_input at %d ms", events, lastMs)
	}
}

func TestReplayBadInput(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "corrupt.avi")
	os.WriteFile(garbage, []byte("RIFF this is not a video at all"), 0o644)
	emptyDir := t.TempDir()
	for _, src := range []string{"/nonexistent/clip.avi", garbage, emptyDir} {
		_, err := Replay(ReplayOptions{Source: src, Presence: DefaultPresence}, func(ReplayEvent) error { return nil })
		if err == nil || !strings.Contains(err.Error(), src) {
			t.Errorf("Replay(%q) = %v, want an error naming it", src, err)
		}
	}
}

// A clip whose frames from the third on are JPEGs libjpeg cannot decode (their headers claim
// 11-bit samples) fails with an error naming the frame and its time, and saying what is wrong.
func TestReplayNamesACorruptFrame(t *testing.T) {
	clip := filepath.Join(t.TempDir(), "clip.avi")
	img := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer img.Close()
	w, err := camera.CreateVideo(clip, 10, img.Cols(), img.Rows())
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		w.Write(img)
	}
	w.Close()
	b, _ := os.ReadFile(clip)
	for i, n := 0, 0; i+4 < len(b); i++ {
		if b[i] == 0xFF && b[i+1] == 0xC0 { // a frame's start of frame
			if n++; n >= 3 {
				b[i+4] = 11
			}
		}
	}
	os.WriteFile(clip, b, 0o644)
	_, err = Replay(ReplayOptions{Source: clip, Presence: DefaultPresence}, func(ReplayEvent) error { return nil })
	if err == nil || !errors.Is(err, camera.ErrCorruptFrame) || !regexp.MustCompile(`replay: frame ([2-9]) \(\d+ms\): .*corrupt JPEG`).MatchString(err.Error()) {
		t.Errorf("Replay of a clip with corrupt frames = %v, want the first analysed bad frame named", err)
	}
}

// checkWithin checks a millisecond media time against [lo, hi], allowing for the truncation to ms.
func checkWithin(t *testing.T, what string, gotMs int64, lo, hi time.Duration) {
	t.Helper()
	lo -= time.Millisecond
	if got := time.Duration(gotMs) * time.Millisecond; got < lo || got > hi {
		t.Errorf("%s at %v, want within [%v, %v]", what, got, lo, hi)
	}
}

func overlap(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	i := float64(in.Dx() * in.Dy())
	return i / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - i)
}
