package display

import (
	"math"
	"time"
)

// Gestures is what the air buttons look like now, for the kiosk's feedback while a shopper is
// engaged (docs/gestures.md): where each button is, as the shopper sees it in the glass, and
// how far a hold in it has come. No buttons: nothing to show (no shopper, gestures off, or no
// face to place them by).
type Gestures struct {
	Buttons []GestureButton `json:"buttons"`
}

// GestureButton is one air button.
type GestureButton struct {
	Action string `json:"action"` // "photo" or "next"
	// Box is the button's region in mirror coordinates: the camera frame normalised to 0..1
	// and flipped left to right, as the shopper sees themself in the glass.
	Box Box `json:"box"`
	// Progress is how far a hold has come, 0 (no hand) to 1 (held for the hold time).
	Progress float64 `json:"progress"`
	// Fired is set on the one update on which the button fired.
	Fired bool `json:"fired,omitempty"`
}

// Box is a rectangle in normalised screen coordinates: X and Y of its top left corner, its
// width and height, each 0..1 of the screen's.
type Box struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// The air buttons' feedback comes on every analysed frame (15 a second while engaged), and a
// display needs only what changes. GestureThrottle decides which updates to show: a change of
// what shows — buttons appearing or going, a hold starting, ending or completing, a button
// firing — at once; a hold's progress or a button's move at most every Every, and only when it
// is visible: progress by Step, a box by Move of the screen. The zero value uses the defaults.
type GestureThrottle struct {
	Every      time.Duration // default 100 ms
	Step, Move float64       // defaults 0.02 and 0.01
	sent       Gestures
	at         time.Time
}

// Take says whether g, arriving at now, is to be shown, and if so remembers it as shown.
func (t *GestureThrottle) Take(g Gestures, now time.Time) bool {
	every, step, move := t.Every, t.Step, t.Move
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	if step <= 0 {
		step = 0.02
	}
	if move <= 0 {
		move = 0.01
	}
	if !gesturesChanged(t.sent, g) && (now.Sub(t.at) < every || !gesturesMoved(t.sent, g, step, move)) {
		return false
	}
	t.sent, t.at = Gestures{Buttons: append([]GestureButton{}, g.Buttons...)}, now
	return true
}

// Shown returns the feedback taken last (no buttons before the first).
func (t *GestureThrottle) Shown() Gestures {
	return Gestures{Buttons: append([]GestureButton{}, t.sent.Buttons...)}
}

// gesturesChanged says whether what shows differs between a and b: the buttons, a hold
// starting, ending or completing, a button firing (and the update after it, so that a page
// attaching later does not see the fire again).
func gesturesChanged(a, b Gestures) bool {
	if len(a.Buttons) != len(b.Buttons) {
		return true
	}
	for i, y := range b.Buttons {
		x := a.Buttons[i]
		if x.Action != y.Action || x.Fired || y.Fired || (x.Progress > 0) != (y.Progress > 0) || (x.Progress >= 1) != (y.Progress >= 1) {
			return true
		}
	}
	return false
}

// gesturesMoved says whether a hold's progress (by step) or a button's box (by move) moved
// between a and b, which have the same buttons.
func gesturesMoved(a, b Gestures, step, move float64) bool {
	for i, y := range b.Buttons {
		x := a.Buttons[i]
		if math.Abs(x.Progress-y.Progress) >= step {
			return true
		}
		for _, d := range []float64{x.Box.X - y.Box.X, x.Box.Y - y.Box.Y, x.Box.W - y.Box.W, x.Box.H - y.Box.H} {
			if math.Abs(d) >= move {
				return true
			}
		}
	}
	return false
}
