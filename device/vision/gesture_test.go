package vision

import (
	"image"
	"image/color"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gocv.io/x/gocv"
)

type press struct {
	Frame  int
	Action string
}

// skinOf is the colour of the face photo's skin (the chroma of the middle of its face) at
// brightness y (0..255): the hand of the shopper in the photo.
func skinOf(t *testing.T, face gocv.Mat, y float64) color.RGBA {
	t.Helper()
	mid := face.Region(image.Rect(291, 231, 403, 343))
	defer mid.Close()
	ycc := gocv.NewMat()
	defer ycc.Close()
	gocv.CvtColor(mid, &ycc, gocv.ColorBGRToYCrCb)
	m := ycc.Mean()
	px := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(y, m.Val2, m.Val3, 0), 1, 1, gocv.MatTypeCV8UC3)
	defer px.Close()
	gocv.CvtColor(px, &px, gocv.ColorYCrCbToBGR)
	return color.RGBA{R: px.GetUCharAt(0, 2), G: px.GetUCharAt(0, 1), B: px.GetUCharAt(0, 0)}
}

// TestAirButtons plays a shopper (the face photo) at 15 fps and a hand (a blob of the colour of
// the shopper's skin) that hovers over a button region, held still, while the face stays
// outside it.
func TestAirButtons(t *testing.T) {
	face := photo(t)
	photoBtn := image.Rect(0, 72, 115, 240)    // left of the face (235..459)
	nextBtn := image.Rect(525, 72, 640, 240)   // right of it
	overFace := image.Rect(200, 120, 500, 420) // a badly placed button over the face
	light, dark := skinOf(t, face, 200), skinOf(t, face, 90)
	// The hand must stand out from what is behind it (in brightness: the gate works on grey):
	// a light hand before the dark right side of the photo, a darker one before the bright left.
	hand := func(m gocv.Mat, r image.Rectangle) gocv.Mat {
		h := m.Clone()
		c := image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
		reg := m.Region(r)
		mean := reg.Mean()
		behind := (mean.Val1 + mean.Val2 + mean.Val3) / 3
		reg.Close()
		skin := light
		if behind > 128 {
			skin = dark
		}
		gocv.Ellipse(&h, c, image.Pt(r.Dx()/3, r.Dy()/3), 0, 0, 360, skin, -1)
		return h
	}
	tests := []struct {
		name    string
		buttons []Button
		script  func(i int) image.Rectangle // where the hand is at frame i (empty: no hand)
		present bool
		want    []press
	}{
		{"hover for the hold fires once", []Button{{Action: ActionPhoto, Region: photoBtn, Hold: 800 * time.Millisecond}},
			func(i int) image.Rectangle {
				if i >= 20 && i < 50 {
					return photoBtn
				}
				return image.Rectangle{}
			}, true, []press{{32, ActionPhoto}}},
		{"a hover shorter than the hold does not fire", []Button{{Action: ActionPhoto, Region: photoBtn, Hold: 800 * time.Millisecond}},
			func(i int) image.Rectangle {
				if i >= 20 && i < 29 {
					return photoBtn
				}
				return image.Rectangle{}
			}, true, nil},
		{"two hovers fire twice; each button its own action", []Button{{Action: ActionPhoto, Region: photoBtn}, {Action: ActionNext, Region: nextBtn}},
			func(i int) image.Rectangle {
				switch {
				case i >= 20 && i < 35:
					return photoBtn
				case i >= 45 && i < 60:
					return nextBtn
				}
				return image.Rectangle{}
			}, true, []press{{32, ActionPhoto}, {57, ActionNext}}},
		{"the face inside the region is not a press", []Button{{Action: ActionPhoto, Region: overFace}},
			func(i int) image.Rectangle {
				if i >= 20 && i < 50 {
					return image.Rect(200, 380, 500, 480) // a hand low in the region, the face in it too
				}
				return image.Rectangle{}
			}, true, nil},
		{"nobody at the mirror: not armed", []Button{{Action: ActionPhoto, Region: photoBtn}},
			func(i int) image.Rectangle {
				if i >= 20 && i < 50 {
					return photoBtn
				}
				return image.Rectangle{}
			}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAnalyzerT(t, Options{Buttons: tt.buttons, Presence: PresenceConfig{EnterDwell: 0, ExitGrace: 3 * time.Second}})
			// The room before the shopper: the photo with the shopper painted over.
			empty := face.Clone()
			defer empty.Close()
			gocv.Rectangle(&empty, image.Rect(150, 100, 515, 480), color.RGBA{90, 90, 90, 0}, -1)
			base := face
			if !tt.present {
				base = empty
			}
			var got []press
			for i := 0; i < 65; i++ {
				f := base.Clone()
				if i < 3 { // the shopper walks into the room
					f.Close()
					f = empty.Clone()
				}
				if r := tt.script(i); !r.Empty() {
					h := hand(f, r)
					f.Close()
					f = h
				}
				res, err := a.Analyze(f, frameTime(i, 15))
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				for _, act := range res.Actions {
					got = append(got, press{i, act})
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("presses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestButtonOutsideFrameIsAnErrorThenOff(t *testing.T) {
	a := newAnalyzerT(t, Options{Buttons: []Button{{Action: ActionPhoto, Region: image.Rect(600, 0, 700, 100)}}})
	if _, err := a.Analyze(photo(t), frameTime(0, 15)); err == nil {
		t.Fatalf("Analyze with a button outside the frame = nil error")
	}
	if _, err := a.Analyze(photo(t), frameTime(1, 15)); err != nil {
		t.Errorf("second Analyze = %v, want the bad button switched off", err)
	}
}

func TestDefaultButtonsFitTheFrame(t *testing.T) {
	for _, size := range []image.Point{{640, 480}, {1280, 720}, {320, 240}} {
		bs := DefaultButtons(size)
		if err := checkButtons(bs, size); err != nil || len(bs) != 2 || bs[0].Action != ActionPhoto || bs[1].Action != ActionNext {
			t.Errorf("DefaultButtons(%v) = %v (%v), want photo and next inside the frame", size, bs, err)
		}
	}
}

func TestGesturesPlaceDefaultButtonsForTheFrame(t *testing.T) {
	a := newAnalyzerT(t, Options{Gestures: true, ButtonPlacement: PlaceFixed})
	if _, err := a.Analyze(photo(t), frameTime(0, 15)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultButtons(image.Pt(640, 480)), a.Options().Buttons); diff != "" {
		t.Errorf("buttons for a 640×480 camera (-want +got):\n%s", diff)
	}
}

// TestAnchoredButtons: the face-anchored buttons sit beside the head at shoulder height, scale
// with the face, are clipped to the frame, and are off when mostly outside it or without a face.
func TestAnchoredButtons(t *testing.T) {
	frame := image.Pt(640, 480)
	tests := []struct {
		name        string
		face        image.Rectangle
		photo, next image.Rectangle
	}{
		{"centred face", image.Rect(270, 100, 370, 200), image.Rect(130, 125, 260, 250), image.Rect(380, 125, 510, 250)},
		{"twice the face, twice the buttons", image.Rect(220, 60, 420, 260), image.Rect(0, 110, 200, 360), image.Rect(440, 110, 640, 360)},
		{"near the left edge: photo clipped", image.Rect(60, 100, 160, 200), image.Rect(0, 125, 50, 250), image.Rect(170, 125, 300, 250)},
		{"at the left edge: photo mostly outside, off", image.Rect(20, 100, 120, 200), image.Rectangle{}, image.Rect(130, 125, 260, 250)},
		{"low in the frame: clipped at the bottom", image.Rect(270, 360, 370, 460), image.Rect(130, 385, 260, 480), image.Rect(380, 385, 510, 480)},
		{"no face: both off", image.Rectangle{}, image.Rectangle{}, image.Rectangle{}},
	}
	for _, tt := range tests {
		bs := AnchoredButtons(tt.face, frame)
		if len(bs) != 2 || bs[0].Action != ActionPhoto || bs[1].Action != ActionNext || bs[0].Hold != 800*time.Millisecond {
			t.Fatalf("%s: AnchoredButtons = %+v, want photo then next with a 0.8 s hold", tt.name, bs)
		}
		if bs[0].Region != tt.photo || bs[1].Region != tt.next {
			t.Errorf("%s: photo %v next %v, want %v and %v", tt.name, bs[0].Region, bs[1].Region, tt.photo, tt.next)
		}
		for _, b := range bs {
			if !b.Region.Empty() && (b.Region.Overlaps(tt.face) || !b.Region.In(image.Rectangle{Max: frame})) {
				t.Errorf("%s: %s region %v overlaps the face %v or leaves the frame", tt.name, b.Action, b.Region, tt.face)
			}
		}
	}
}

// TestAnchoredAirButtons plays the shopper (the face photo) with the buttons anchored to the
// face and, 2.5 s after they walked in (their shoulder, new in the region, has been learnt),
// a blob beside the head, in the photo button: a hand-sized blob held still fires
// once; a blob the size of an arm (over half the face's area), one that jumps about (a hand
// waving), or the same hold with nobody at the mirror do not.
func TestAnchoredAirButtons(t *testing.T) {
	face := photo(t)
	skin := skinOf(t, face, 200)
	empty := face.Clone()
	t.Cleanup(func() { empty.Close() }) // after the parallel subtests
	gocv.Rectangle(&empty, image.Rect(150, 100, 515, 480), color.RGBA{90, 90, 90, 0}, -1)
	tests := []struct {
		name  string
		size  float64       // blob area / face area
		jump  float64       // the blob's centre moves this many face widths every frame
		dwell time.Duration // presence's enter dwell: 30 s = no session within the clip
		until int           // the blob is there from frame 40 to this one
		want  int
		// abandoned: holds that ended unfired (reported from 0.3 s), and how long each was
		abandoned []time.Duration
	}{
		{"a hand held still fires once", 0.25, 0, 0, 75, 1, nil},
		{"an arm-sized blob does not fire", 0.8, 0, 0, 75, 0, nil},
		{"a waving hand does not fire", 0.25, 0.5, 0, 75, 0, nil},
		{"no session open: not armed", 0.25, 0, 30 * time.Second, 75, 0, nil},
		{"a hand held 0.5 s is an abandoned hold", 0.25, 0, 0, 48, 0, []time.Duration{467 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAnalyzerT(t, Options{Gestures: true, Presence: PresenceConfig{EnterDwell: tt.dwell, ExitGrace: 3 * time.Second}})
			var (
				last      Result
				fired     int
				abandoned []time.Duration
			)
			for i := 0; i < 75; i++ {
				f := face.Clone()
				if i < 3 { // the shopper walks into the room (a face there from the start is a poster's)
					f.Close()
					f = empty.Clone()
				}
				if b := last.Buttons; i >= 40 && i < tt.until && len(b) > 0 && !b[0].Region.Empty() && !last.Observation.Primary.Empty() {
					fc := last.Observation.Primary
					r := b[0].Region
					c := image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
					c.Y += int(tt.jump / 2 * float64(fc.Dx()) * float64(1-2*(i%2))) // up, down, up…
					rad := int(math.Sqrt(tt.size * float64(fc.Dx()*fc.Dy()) / math.Pi))
					gocv.Circle(&f, c, rad, skin, -1)
				}
				res, err := a.Analyze(f, frameTime(i, 15))
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				last = res
				fired += len(res.Actions)
				for _, b := range res.Buttons {
					if b.Abandoned > 0 {
						abandoned = append(abandoned, b.Abandoned.Round(time.Millisecond))
					}
				}
			}
			if diff := cmp.Diff(tt.abandoned, abandoned); diff != "" {
				t.Errorf("abandoned holds (-want +got):\n%s", diff)
			}
			if fired != tt.want {
				t.Errorf("fired %d times, want %d (last buttons %+v)", fired, tt.want, last.Buttons)
			}
		})
	}
}

// TestFiredMarkerInsideTheFrame: the debug view's FIRED marker is drawn inside even a
// 320-wide frame (it used to trail the status line, past the right edge of a 640-wide one),
// and a fired anchored button is filled where it was on that frame.
func TestFiredMarkerInsideTheFrame(t *testing.T) {
	for _, w := range []int{320, 640} {
		m := gocv.NewMatWithSize(w*3/4, w, gocv.MatTypeCV8UC3)
		region := image.Rect(10, 100, 90, 180)
		r := Result{Actions: []string{ActionPhoto}, Buttons: []ButtonState{{Action: ActionPhoto, Region: region, Fired: true}}}
		newAnnotator().Draw(&m, r, Options{}, time.Second)
		marker := m.Region(image.Rect(0, 24, min(w, 200), 52))
		mean := marker.Mean()
		inside := m.Region(region.Inset(20))
		fill := inside.Mean()
		if mean.Val1+mean.Val2+mean.Val3 < 200 || fill.Val1+fill.Val2+fill.Val3 < 200 { // on a black frame
			t.Errorf("%d wide: marker mean %v, button fill %v; want the FIRED marker and the filled button drawn", w, mean, fill)
		}
		marker.Close()
		inside.Close()
		m.Close()
	}
}
