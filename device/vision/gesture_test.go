package vision

import (
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gocv.io/x/gocv"
)

type press struct {
	Frame  int
	Action string
}

// TestAirButtons plays a shopper (the face photo) at 15 fps and a hand (a skin-coloured
// blob) that hovers over a button region, held still, while the face stays outside it.
func TestAirButtons(t *testing.T) {
	face := photo(t)
	photoBtn := image.Rect(0, 72, 115, 240)    // left of the face (235..459)
	nextBtn := image.Rect(525, 72, 640, 240)   // right of it
	overFace := image.Rect(200, 120, 500, 420) // a badly placed button over the face
	// The hand must stand out from what is behind it (in brightness: the gate works on grey):
	// a light hand before the dark right side of the photo, a darker one before the bright left.
	hand := func(m gocv.Mat, r image.Rectangle) gocv.Mat {
		h := m.Clone()
		c := image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
		reg := m.Region(r)
		mean := reg.Mean()
		behind := (mean.Val1 + mean.Val2 + mean.Val3) / 3
		reg.Close()
		skin := color.RGBA{235, 195, 165, 0}
		if behind > 128 {
			skin = color.RGBA{150, 105, 85, 0}
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
