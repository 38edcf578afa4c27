package vision

import (
	"image"
	"image/color"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gocv.io/x/gocv"
)

// frames yields analysis times at fps from t0.
func frameTime(i int, fps float64) time.Time {
	return time.Unix(1_700_000_000, 0).Add(time.Duration(float64(i) / fps * float64(time.Second)))
}

func grey(t *testing.T) gocv.Mat {
	t.Helper()
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 480, 640, gocv.MatTypeCV8UC3)
	t.Cleanup(func() { m.Close() })
	return m
}

func photo(t *testing.T) gocv.Mat {
	t.Helper()
	m := gocv.IMRead(facePhoto, gocv.IMReadColor)
	if m.Empty() {
		t.Fatalf("cannot read %s", facePhoto)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newAnalyzerT(t *testing.T, o Options) *Analyzer {
	t.Helper()
	a, err := NewAnalyzer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestMotionGate(t *testing.T) {
	g := newMotionGate(MotionOptions{})
	defer g.Close()
	bg := grey(t)
	if m := g.Update(bg); m.Fraction != 0 {
		t.Errorf("first frame: motion %v, want none", m)
	}
	if m := g.Update(bg); m.Fraction != 0 || len(m.Boxes) != 0 {
		t.Errorf("same frame again: motion %+v, want none", m)
	}
	moved := bg.Clone()
	defer moved.Close()
	box := image.Rect(400, 100, 480, 300)
	gocv.Rectangle(&moved, box, color.RGBA{20, 20, 20, 0}, -1)
	m := g.Update(moved)
	if len(m.Boxes) != 1 || overlap(m.Boxes[0], box) < 0.6 {
		t.Fatalf("a dark block appeared at %v: motion boxes %v, want one near it", box, m.Boxes)
	}
	if want := float64(box.Dx()*box.Dy()) / (640 * 480); m.Fraction < want*0.7 || m.Fraction > want*1.6 {
		t.Errorf("motion fraction %.4f, want about %.4f", m.Fraction, want)
	}
	// Small changes (sensor noise, a tiny speck) do not count.
	speck := moved.Clone()
	defer speck.Close()
	gocv.Rectangle(&speck, image.Rect(10, 10, 13, 13), color.RGBA{255, 255, 255, 0}, -1)
	if m := g.Update(speck); len(m.Boxes) != 0 {
		t.Errorf("a 3×3 speck counted as motion: %v", m.Boxes)
	}
}

// TestDetectorRunsOnlyBehindTheGate: an empty, still room never runs the face detector; a
// person appearing does. While someone is there the detector runs at SearchFPS and the faces
// it found stand for the frames in between; it looks around where the face was, with a search
// of the whole frame every FullEvery detections.
func TestDetectorRunsOnlyBehindTheGate(t *testing.T) {
	a := newAnalyzerT(t, Options{Presence: PresenceConfig{EnterDwell: 200 * time.Millisecond, ExitGrace: 3 * time.Second}, FullEvery: 4})
	bg, face := grey(t), photo(t)
	var got []string
	for i := 0; i < 30; i++ {
		f := bg
		if i >= 4 {
			f = face
		}
		r, err := a.Analyze(f, frameTime(i, 15))
		if err != nil {
			t.Fatal(err)
		}
		s := "gate"
		switch {
		case r.Reused:
			s = "still"
		case r.Tracked:
			s = "track"
		case r.Detected:
			s = "detect"
		}
		if i >= 4 && len(r.Faces) != 1 {
			t.Errorf("frame %d (%s): %d faces, want 1", i, s, len(r.Faces))
		}
		got = append(got, s)
	}
	// The detector looks at the first frame (someone may be in view at start). Then, at 15 fps
	// and the default SearchFPS of 5, it runs on every third frame from frame 4 while the face
	// arrives (around it on frame 7). Once the shopper is present (the 200 ms dwell) and nothing
	// moves around them, their face stands for the frames of the next second (stillDetect):
	// the detector looks again, at the whole frame, on frame 22.
	want := []string{"detect", "gate", "gate", "gate", "detect", "still", "still", "track"}
	for i := 8; i < 30; i++ {
		if i == 22 {
			want = append(want, "detect")
		} else {
			want = append(want, "still")
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("per-frame work (-want +got):\n%s", diff)
	}
	if !a.Present() {
		t.Errorf("not present after 26 frames of a face with a 200 ms dwell")
	}
}

// TestDetectorRestsWhileStill: while a present shopper's face was found and nothing moves
// around them, the detector looks once a second; while something moves beside them but their
// face stays where it was, looking the same (faceTracker), too; once the face itself moves, it
// runs at SearchFPS again.
func TestDetectorRestsWhileStill(t *testing.T) {
	a := newAnalyzerT(t, Options{Presence: PresenceConfig{EnterDwell: 200 * time.Millisecond, ExitGrace: 3 * time.Second}})
	bg, face := grey(t), photo(t)
	stir := face.Clone()
	defer stir.Close()
	var moved gocv.Mat
	defer func() { moved.Close() }()
	runs := map[string]int{}
	for i := 0; i < 90; i++ {
		f := face
		switch {
		case i < 4:
			f = bg // the empty room first: the face that comes is a person's
		case i >= 30 && i < 60 && i%2 == 1:
			f = stir
		case i >= 60 && i%2 == 1:
			f = moved
		}
		r, err := a.Analyze(f, frameTime(i, 15))
		if err != nil {
			t.Fatal(err)
		}
		if i == 7 {
			if len(r.Faces) != 1 || !a.Present() {
				t.Fatalf("frame 7: faces %v, present %v; want the photo's face, present", r.Faces, a.Present())
			}
			box := r.Faces[0]
			// A patch beside the face that flickers from frame 30 on: motion around the shopper.
			side := image.Rect(box.Max.X, box.Min.Y, box.Max.X+box.Dx()/2, box.Max.Y).Intersect(image.Rect(0, 0, stir.Cols(), stir.Rows()))
			gocv.Rectangle(&stir, side, color.RGBA{255, 255, 255, 0}, -1)
			// From frame 60 the shopper sways by a third of their face's width.
			moved = shiftedX(face, box.Dx()/3)
		}
		switch {
		case !r.Detected:
		case i > 7 && i < 30:
			runs["still"]++
		case i >= 30 && i < 60:
			runs["beside"]++
		case i >= 60:
			runs["moving"]++
		}
	}
	if runs["still"] > 2 {
		t.Errorf("the detector ran %d times in 1.5 s of a still shopper, want at most 2 (once a second)", runs["still"])
	}
	if runs["beside"] > 3 {
		t.Errorf("the detector ran %d times in 2 s with motion beside a still face, want at most 3 (once a second)", runs["beside"])
	}
	if runs["moving"] < 8 {
		t.Errorf("the detector ran %d times in 2 s of a swaying shopper, want about 10 (SearchFPS 5)", runs["moving"])
	}
}

func TestIdleAndEngagedFrameRates(t *testing.T) {
	a := newAnalyzerT(t, Options{IdleFPS: 5, EngagedFPS: 15})
	bg, face := grey(t), photo(t)
	analysed := func(m gocv.Mat, from, n int) int {
		c := 0
		for i := from; i < from+n; i++ {
			if at := frameTime(i, 30); a.Due(at) {
				if _, err := a.Analyze(m, at); err != nil {
					t.Fatal(err)
				}
				c++
			}
		}
		return c
	}
	// A 30 fps camera for 2 s of an empty room: about 5 analysed frames a second.
	if got := analysed(bg, 0, 60); got < 9 || got > 11 {
		t.Errorf("idle: analysed %d of 60 frames in 2 s, want about 10 (5 fps)", got)
	}
	// Someone arrives: about 15 a second.
	if got := analysed(face, 60, 60); got < 27 || got > 31 {
		t.Errorf("engaged: analysed %d of 60 frames in 2 s, want about 30 (15 fps)", got)
	}
}

func TestZone(t *testing.T) {
	face := photo(t)
	tests := []struct {
		name    string
		zone    image.Rectangle
		faces   int
		wantErr string
	}{
		{"zone around the shopper", image.Rect(150, 50, 550, 450), 1, ""},
		{"zone beside the shopper", image.Rect(0, 0, 200, 480), 0, ""},
		{"zone outside the frame", image.Rect(600, 0, 800, 480), 1, "outside the 640×480 camera frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAnalyzerT(t, Options{Detector: DetectorOptions{Zone: tt.zone}, Presence: PresenceConfig{ExitGrace: time.Second}})
			_, err := a.Analyze(grey(t), frameTime(0, 15))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Analyze with zone %v = %v, want an error saying %q", tt.zone, err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			// The face appears in an empty room; the analyser detects (with a bad zone: in the
			// whole frame, the error said so).
			a.Analyze(grey(t), frameTime(1, 2))
			r, err := a.Analyze(face, frameTime(2, 2))
			if err != nil {
				t.Fatalf("second Analyze = %v, want the bad zone dropped", err)
			}
			if len(r.Faces) != tt.faces {
				t.Errorf("zone %v: %d faces %v, want %d", tt.zone, len(r.Faces), r.Faces, tt.faces)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"motion threshold", Options{Motion: MotionOptions{Threshold: 300}}, "motion threshold 300"},
		{"min face", Options{Detector: DetectorOptions{MinFace: 2}}, "min face 2"},
		{"work width", Options{Detector: DetectorOptions{WorkWidth: 10}}, "work width 10"},
		{"idle fps", Options{IdleFPS: -1}, "idle fps -1"},
		{"negative grace", Options{Presence: PresenceConfig{ExitGrace: -time.Second}}, "must not be negative"},
		{"button without action", Options{Buttons: []Button{{Region: image.Rect(0, 0, 10, 10)}}}, "want an action"},
		{"empty zone", Options{Detector: DetectorOptions{Zone: image.Rect(10, 10, 10, 50)}}, "empty rectangle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.o.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error saying %q", err, tt.want)
			}
			if _, err := NewAnalyzer(tt.o); err == nil {
				t.Errorf("NewAnalyzer accepted %s", tt.name)
			}
		})
	}
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("zero Options: Validate() = %v, want nil (all defaults)", err)
	}
}

func TestSetOptionsKeepsOldOnError(t *testing.T) {
	a := newAnalyzerT(t, Options{})
	if err := a.SetOptions(Options{Detector: DetectorOptions{Cascade: "/nonexistent/cascade.xml"}}); err == nil || !strings.Contains(err.Error(), "/nonexistent/cascade.xml") {
		t.Fatalf("SetOptions(missing cascade) = %v, want an error naming it", err)
	}
	if got := a.Options().Detector.Cascade; got != DefaultCascade {
		t.Errorf("cascade after a failed SetOptions = %q, want the old %q", got, DefaultCascade)
	}
	lbp := "/usr/share/opencv4/lbpcascades/lbpcascade_frontalface_improved.xml"
	if err := a.SetOptions(Options{Detector: DetectorOptions{Cascade: lbp, MinFace: 0.2}, IdleFPS: 2}); err != nil {
		t.Fatal(err)
	}
	if o := a.Options(); o.Detector.Cascade != lbp || o.Detector.MinFace != 0.2 || o.IdleFPS != 2 {
		t.Errorf("Options after SetOptions = %+v", o)
	}
	a.Analyze(grey(t), frameTime(0, 15))
	r, _ := a.Analyze(photo(t), frameTime(1, 15))
	if len(r.Faces) != 1 {
		t.Errorf("with the LBP cascade loaded at run time: %d faces, want 1", len(r.Faces))
	}
}

// TestSearchRate: with nobody at the mirror, motion that could hold a face runs the detector
// at most SearchFPS times a second, and thinner motion (a curtain's edge) not at all; a shopper
// who steps in while it is held back and then stands still is still found.
func TestSearchRate(t *testing.T) {
	a := newAnalyzerT(t, Options{SearchFPS: 5})
	bg := grey(t)
	thin := 0
	for i := 0; i < 30; i++ { // 2 s of a curtain swinging at 15 fps: only its edges change
		f := bg.Clone()
		gocv.Rectangle(&f, image.Rect(20+10*i, 50, 120+10*i, 400), color.RGBA{40, 30, 30, 0}, -1)
		r, err := a.Analyze(f, frameTime(i, 15))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.Detected && i > 0 { // the first frame is looked at: someone may be in view
			thin++
		}
	}
	if thin > 0 {
		t.Errorf("2 s of a curtain's edge moving 10 px a frame: %d detections, want none (no blob a face fits in)", thin)
	}
	detections, last := 0, -1
	for i := 30; i < 60; i++ { // 2 s of something person-sized moving about
		f := bg.Clone()
		x := 20 + 200*(i%2)
		gocv.Rectangle(&f, image.Rect(x, 50, x+100, 400), color.RGBA{40, 30, 30, 0}, -1)
		r, err := a.Analyze(f, frameTime(i, 15))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.Detected {
			detections, last = detections+1, i
		}
	}
	if detections < 9 || detections > 11 {
		t.Errorf("2 s of person-sized motion without a face: %d detections, want about 10 (5 a second)", detections)
	}
	// The shopper appears on the frame after the last search (so the detector is held back)
	// and from then on nothing moves.
	face := photo(t)
	found := -1
	for i := last + 1; i < last+12 && found < 0; i++ {
		r, err := a.Analyze(face, frameTime(i, 15))
		if err != nil {
			t.Fatal(err)
		}
		if i == last+1 && r.Detected {
			t.Fatalf("frame %d, 67 ms after a search: the detector ran, want it held back", i)
		}
		if len(r.Faces) > 0 {
			found = i
		}
	}
	if found < 0 || found > last+4 {
		t.Errorf("a shopper standing still after stepping in at frame %d was found at frame %d, want within 200 ms", last+1, found)
	}
}
