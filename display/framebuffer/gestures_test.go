package framebuffer

import (
	"context"
	"image"
	"image/color"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/display"
)

// TestHoldRing: the ring is lit clockwise from 12 o'clock for the share held, grey for the
// rest; a fired button's ring is green all round with a green tick in its middle.
func TestHoldRing(t *testing.T) {
	fb, _ := openFile(t, Geometry{Width: 480, Height: 800, Format: XRGB8888}, 0)
	const d = 120
	at := func(img *image.RGBA, turn float64) color.RGBA { // a point in the middle of the band
		r := float64(d)/2 - 3
		a := 2 * math.Pi * turn
		return img.RGBAAt(int(float64(d)/2+r*math.Sin(a)), int(float64(d)/2-r*math.Cos(a)))
	}
	img := image.NewRGBA(image.Rect(0, 0, d, d))
	holdRing{d: d, width: 8, progress: 0.5, face: fb.tf.face(d / 2)}.draw(img, image.Point{})
	for _, c := range []struct {
		turn float64
		want color.RGBA
	}{{0.05, white}, {0.25, white}, {0.45, white}, {0.55, airTrack}, {0.75, airTrack}, {0.95, airTrack}} {
		if got := at(img, c.turn); got != c.want {
			t.Errorf("half held: at %.2f of a turn %v, want %v", c.turn, got, c.want)
		}
	}
	if got := img.RGBAAt(d/2, d/2); got != (color.RGBA{}) {
		t.Errorf("half held: the middle is %v, want nothing drawn", got)
	}
	img = image.NewRGBA(image.Rect(0, 0, d, d))
	holdRing{d: d, width: 8, progress: 0.3, fired: true, face: fb.tf.face(d / 2)}.draw(img, image.Point{})
	if at(img, 0.1) != airFired || at(img, 0.8) != airFired {
		t.Errorf("fired: ring at 0.1 %v, at 0.8 %v, want green all round", at(img, 0.1), at(img, 0.8))
	}
	if n := count(img, image.Rect(d/4, d/4, 3*d/4, 3*d/4), airFired); n < 50 {
		t.Errorf("fired: %d green pixels inside the ring, want a tick", n)
	}
}

// TestGesturesOnThePanel: the buttons are drawn where the feedback puts them (outlined, on the
// panel upright and turned), not on the countdown (stand still) nor on idle (black: a plain
// mirror); a fired button is green; no buttons clears them.
func TestGesturesOnThePanel(t *testing.T) {
	for _, rot := range []int{0, 90} {
		geo := Geometry{Width: 480, Height: 800, Format: XRGB8888}
		fb, path := openFile(t, geo, rot)
		show := func(s display.Screen) *image.RGBA {
			t.Helper()
			if err := fb.Render(s); err != nil {
				t.Fatal(err)
			}
			return unturn(readPanel(t, path, fb.Geometry()), rot)
		}
		photo := display.GestureButton{Action: "photo", Box: display.Box{X: 0.6, Y: 0.25, W: 0.3, H: 0.35}, Progress: 0.4}
		next := display.GestureButton{Action: "next", Box: display.Box{X: 0.1, Y: 0.25, W: 0.3, H: 0.35}}
		fb.ShowGestures(display.Gestures{Buttons: []display.GestureButton{photo, next}})
		img := show(display.Screen{Scene: display.SceneWelcome})
		sz := img.Bounds().Size()
		box := func(b display.Box) image.Rectangle {
			return image.Rect(int(b.X*float64(sz.X)), int(b.Y*float64(sz.Y)), int((b.X+b.W)*float64(sz.X)), int((b.Y+b.H)*float64(sz.Y)))
		}
		for _, b := range []display.GestureButton{photo, next} {
			r := box(b.Box)
			if got := img.RGBAAt(r.Min.X, (r.Min.Y+r.Max.Y)/2); got != airEdge {
				t.Errorf("r%d %s: left edge %v, want the outline %v", rot, b.Action, got, airEdge)
			}
			if n := count(img, r, airTrack); n < 200 {
				t.Errorf("r%d %s: %d pixels of the ring's track, want a ring", rot, b.Action, n)
			}
		}
		if lit, rest := count(img, box(photo.Box), white), count(img, box(next.Box), white); lit <= rest+100 {
			t.Errorf("r%d: %d white pixels in the photo button (held 40%%), %d in next (not held): want more lit", rot, lit, rest)
		}
		for _, sc := range []string{display.SceneCountdown, display.SceneIdle} {
			img := show(display.Screen{Scene: sc, Countdown: 3})
			if n := count(img, box(photo.Box), airEdge) + count(img, box(photo.Box), airTrack); n != 0 {
				t.Errorf("r%d %s: %d pixels of air buttons drawn, want none", rot, sc, n)
			}
		}
		photo.Fired, photo.Progress = true, 1
		fb.ShowGestures(display.Gestures{Buttons: []display.GestureButton{photo, next}})
		img = show(display.Screen{Scene: display.SceneReview})
		if n := count(img, box(photo.Box), airFired); n < 300 {
			t.Errorf("r%d: fired photo button has %d green pixels, want its outline, ring and tick", rot, n)
		}
		if n := count(img, box(next.Box), airFired); n != 0 {
			t.Errorf("r%d: next (not fired) has %d green pixels", rot, n)
		}
		fb.ShowGestures(display.Gestures{})
		if n := count(show(display.Screen{Scene: display.SceneWelcome}), box(photo.Box), airEdge); n != 0 {
			t.Errorf("r%d: no buttons, %d outline pixels left", rot, n)
		}
	}
}

// TestFiredTickGoes: on the running framebuffer the fired tick shows for firedFor, then the
// loop redraws the button without it, with no new feedback coming.
func TestFiredTickGoes(t *testing.T) {
	geo := Geometry{Width: 360, Height: 640, Format: RGB565}
	fb, path := openFile(t, geo, 0)
	var mu sync.Mutex
	now := testNow
	fb.opts.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fb.Run(ctx) }()
	defer func() { cancel(); <-done }()
	b := display.GestureButton{Action: "photo", Box: display.Box{X: 0.55, Y: 0.25, W: 0.4, H: 0.35}, Progress: 1, Fired: true}
	r := image.Rect(int(0.55*360), int(0.25*640), int(0.95*360), int(0.6*640))
	fb.Show(display.Screen{Scene: display.SceneWelcome})
	fb.ShowGestures(display.Gestures{Buttons: []display.GestureButton{b}})
	green := func() int { return countNear(readPanel(t, path, fb.Geometry()), r, airFired) }
	waitUntil(t, "the fired button drawn green", func() bool { return fb.Accepting() && green() > 300 })
	mu.Lock() // and no new feedback: the loop's own tick must redraw
	now = now.Add(firedFor)
	mu.Unlock()
	waitUntil(t, "the tick gone after firedFor", func() bool { return green() == 0 })
}

// count is the number of pixels of r in img that are exactly c.
func count(img *image.RGBA, r image.Rectangle, c color.RGBA) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) == c {
				n++
			}
		}
	}
	return n
}

// countNear is count within the rounding of RGB565 (5 or 6 bits a channel).
func countNear(img *image.RGBA, r image.Rectangle, c color.RGBA) int {
	n := 0
	r = r.Intersect(img.Bounds())
	near := func(a, b uint8) bool { return int(a)-int(b) <= 8 && int(b)-int(a) <= 8 }
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p := img.RGBAAt(x, y)
			if near(p.R, c.R) && near(p.G, c.G) && near(p.B, c.B) {
				n++
			}
		}
	}
	return n
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
