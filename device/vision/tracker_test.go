package vision

import (
	"image"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// TestFaceTrackerFollowsTheSameFace: the face remembered at a detection is found again on a
// frame where it stands where it was (sensor noise, a little sway), and not once it has moved
// away by more than its margin or something else stands there.
func TestFaceTrackerFollowsTheSameFace(t *testing.T) {
	img := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer img.Close()
	d, err := NewDetector(DetectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	face := d.Detect(img).Primary
	if face.Empty() {
		t.Fatal("no face on the test photo")
	}
	g := newMotionGate(MotionOptions{})
	defer g.Close()
	tr := newFaceTracker()
	defer tr.Close()
	g.Update(img)
	tr.remember(g, face)
	if !tr.have {
		t.Fatalf("face %v not remembered", face)
	}
	for _, tt := range []struct {
		dx   int
		want bool
	}{{0, true}, {4, true}, {face.Dx(), false}, {-face.Dx(), false}} {
		m := shiftedX(img, tt.dx)
		g.Update(m)
		if got := tr.still(g); got != tt.want {
			t.Errorf("face moved by %d px: still = %v, want %v", tt.dx, got, tt.want)
		}
		m.Close()
	}
	flat := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 90, 90, 0), img.Rows(), img.Cols(), gocv.MatTypeCV8UC3)
	defer flat.Close()
	g.Update(flat)
	if tr.still(g) {
		t.Error("the face's place is a grey wall: still = true, want false")
	}
	tr.remember(g, image.Rectangle{})
	if tr.still(g) {
		t.Error("no face remembered: still = true, want false")
	}
}

// TestReplayPhotosAreFullSize: replay keeps the clip's frames encoded and analyses them at
// reduced scale, but the automatic photo of a session is the frame at its full 640×480.
func TestReplayPhotosAreFullSize(t *testing.T) {
	clip := walkInClip(t)
	var photos []wire.PhotoCaptured
	_, err := Replay(ReplayOptions{Source: clip.Path, Presence: DefaultPresence, Events: func(ev session.Event) {
		if p, ok := ev.Data.(wire.PhotoCaptured); ok && ev.Type == wire.EventPhotoCaptured {
			photos = append(photos, p)
		}
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(photos) == 0 {
		t.Fatal("replay took no photo")
	}
	for _, p := range photos {
		if p.Width != 640 || p.Height != 480 || p.Bytes < 10000 {
			t.Errorf("photo %dx%d, %d bytes; want a full 640×480 frame", p.Width, p.Height, p.Bytes)
		}
	}
}

// shiftedX is img moved dx pixels to the right (left when negative), its edge repeated.
func shiftedX(img gocv.Mat, dx int) gocv.Mat {
	m := gocv.NewMat()
	defer m.Close()
	gocv.CopyMakeBorder(img, &m, 0, 0, max(dx, 0), max(-dx, 0), gocv.BorderReplicate, color0)
	r := m.Region(image.Rect(max(-dx, 0), 0, max(-dx, 0)+img.Cols(), img.Rows()))
	defer r.Close()
	return r.Clone()
}

// TestDetectorRestsWhileNothingCanBeNew: in the exit grace after a shopper has left, a frame
// on which nothing moves is the frame the last detection found empty: the detector looks once
// a second, not at SearchFPS, and the session still closes after the grace.
func TestDetectorRestsWhileNothingCanBeNew(t *testing.T) {
	a := newAnalyzerT(t, Options{Presence: PresenceConfig{EnterDwell: 200 * time.Millisecond, ExitGrace: 3 * time.Second}})
	bg, face := grey(t), photo(t)
	runs, left := 0, false
	for i := 0; i < 120; i++ {
		f := bg
		if i >= 4 && i < 30 {
			f = face
		}
		r, err := a.Analyze(f, frameTime(i, 15))
		if err != nil {
			t.Fatal(err)
		}
		if i == 29 && !a.Present() {
			t.Fatal("frame 29: not present after 1.7 s of a face")
		}
		if i >= 34 && i < 75 && r.Detected {
			runs++
		}
		left = left || r.Transition == session.Left
	}
	if runs > 3 {
		t.Errorf("the detector ran %d times in 2.7 s of an empty, still room during the grace, want at most 3 (once a second)", runs)
	}
	if !left || a.Present() {
		t.Errorf("left %v, present %v at the end: want the session closed after the grace", left, a.Present())
	}
}
