package vision

import (
	"image"
	"testing"

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
	shifted := func(dx int) gocv.Mat {
		m := gocv.NewMat()
		gocv.CopyMakeBorder(img, &m, 0, 0, max(dx, 0), max(-dx, 0), gocv.BorderReplicate, color0)
		r := m.Region(image.Rect(max(-dx, 0), 0, max(-dx, 0)+img.Cols(), img.Rows()))
		out := r.Clone()
		r.Close()
		m.Close()
		return out
	}
	for _, tt := range []struct {
		dx   int
		want bool
	}{{0, true}, {4, true}, {face.Dx(), false}, {-face.Dx(), false}} {
		m := shifted(tt.dx)
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
