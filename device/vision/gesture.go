package vision

import (
	"fmt"
	"image"
	"time"

	"gocv.io/x/gocv"
)

// Gesture actions the session engine understands.
const (
	ActionPhoto = "photo" // take a photo (like the GPIO button)
	ActionNext  = "next"  // next photo / compare
)

// Button is an "air button": a region of the camera image that fires its Action when a hand
// stays in it for Hold while the shopper's face is elsewhere. The region is in camera-frame
// pixels; it must lie inside the frame.
type Button struct {
	Action string
	Region image.Rectangle
	Hold   time.Duration // 0 = 800 ms
}

// DefaultButtons places "photo" to the shopper's right of their head and "next" to their left
// (the camera sees them mirrored), at shoulder height, for a frame of the given size.
func DefaultButtons(frame image.Point) []Button {
	w, h := frame.X, frame.Y
	return []Button{
		{Action: ActionPhoto, Region: image.Rect(0, h*15/100, w*18/100, h*50/100), Hold: 800 * time.Millisecond},
		{Action: ActionNext, Region: image.Rect(w*82/100, h*15/100, w, h*50/100), Hold: 800 * time.Millisecond},
	}
}

func checkButtons(bs []Button, frame image.Point) error {
	for _, b := range bs {
		if b.Action == "" {
			return fmt.Errorf("vision: button at %v: no action", b.Region)
		}
		if b.Region.Empty() || !b.Region.In(image.Rectangle{Max: frame}) {
			return fmt.Errorf("vision: button %q region %v is outside the %d×%d camera frame", b.Action, b.Region, frame.X, frame.Y)
		}
		if b.Hold < 0 {
			return fmt.Errorf("vision: button %q: negative hold %v", b.Action, b.Hold)
		}
	}
	return nil
}

// occupied is the share of a button's pixels that must differ from its empty look.
const occupied = 0.2

// buttonState follows one button. Frame differencing alone loses a hand held still, so each
// button keeps a reference of its region when empty and measures how much of the region
// differs from it now; the reference follows slow light changes while the region is empty.
type buttonState struct {
	Button
	ref      gocv.Mat
	diff     gocv.Mat
	haveRef  bool
	since    time.Time // hover start (zero: not hovering)
	lastOn   time.Time
	fired    bool
	Occupied float64 // last measured share, for the debug view
}

// gestures tracks all buttons on the motion gate's small grey frame.
type gestures struct {
	buttons []*buttonState
}

func (g *gestures) set(bs []Button) {
	g.Close()
	g.buttons = nil
	for _, b := range bs {
		if b.Hold == 0 {
			b.Hold = 800 * time.Millisecond
		}
		g.buttons = append(g.buttons, &buttonState{Button: b, ref: gocv.NewMat(), diff: gocv.NewMat()})
	}
}

// update measures every button on the gate's current grey frame and returns the actions that
// fire now. faces are the faces of this frame; armed says whether presses count (a shopper
// is at the mirror).
func (g *gestures) update(gate *motionGate, at time.Time, faces []image.Rectangle, armed bool, threshold int) []string {
	var fired []string
	for _, b := range g.buttons {
		r := gate.toGate(b.Region)
		if r.Empty() {
			continue
		}
		patch := gate.grey.Region(r)
		if !b.haveRef || b.ref.Cols() != r.Dx() || b.ref.Rows() != r.Dy() {
			patch.CopyTo(&b.ref)
			patch.Close()
			b.haveRef = true
			continue
		}
		gocv.AbsDiff(patch, b.ref, &b.diff)
		gocv.Threshold(b.diff, &b.diff, float32(threshold), 255, gocv.ThresholdBinary)
		b.Occupied = float64(gocv.CountNonZero(b.diff)) / float64(r.Dx()*r.Dy())
		face := false
		for _, f := range faces {
			if f.Overlaps(b.Region) {
				face = true
			}
		}
		on := b.Occupied >= occupied && !face
		switch {
		case on:
			if b.since.IsZero() || at.Sub(b.lastOn) > 300*time.Millisecond {
				b.since, b.fired = at, false
			}
			b.lastOn = at
			if armed && !b.fired && at.Sub(b.since) >= b.Hold {
				b.fired = true
				fired = append(fired, b.Action)
			}
			if at.Sub(b.since) > 15*time.Second {
				// Something left in the region (a bag on a hook): it becomes the empty look.
				patch.CopyTo(&b.ref)
				b.since = time.Time{}
			}
		case b.Occupied < occupied/2 && !face:
			// Empty: follow slow light changes.
			gocv.AddWeighted(b.ref, 0.9, patch, 0.1, 0, &b.ref)
		}
		if !on && at.Sub(b.lastOn) > 300*time.Millisecond {
			b.since = time.Time{}
		}
		patch.Close()
	}
	return fired
}

func (g *gestures) Close() error {
	for _, b := range g.buttons {
		b.ref.Close()
		b.diff.Close()
	}
	return nil
}
