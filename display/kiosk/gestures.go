package kiosk

import (
	"encoding/json"
	"math"
	"time"

	"github.com/fitmirror/fitmirror/display"
)

// The air buttons' feedback is throttled: the vision pipeline reports it on every analysed
// frame (15 a second while engaged), and the page needs only what changes. A change of what
// shows — buttons appearing or going, a hold starting, ending or completing, a button firing —
// is sent at once; a hold's progress or a button's move is sent at most every gestureEvery, and
// only when it is visible: progress by gestureStep, a box by gestureMove of the screen.
const (
	gestureEvery = 100 * time.Millisecond
	gestureStep  = 0.02
	gestureMove  = 0.01
)

// gestureState is the feedback last sent to the pages.
type gestureState struct {
	sent display.Gestures
	json []byte // sent, encoded
	at   time.Time
}

// gestureFrame is one encoded feedback event for a page.
type gestureFrame struct {
	data  []byte
	fired bool
}

// ShowGestures shows the air buttons on the open pages (and on pages that attach later): where
// they are in mirror coordinates and how far a hold has come (vision.HoldFeedback makes g). It
// throttles (see gestureEvery) and never blocks on a page. A page falling behind gets the newest
// feedback, and never misses a button firing. No buttons hides them.
func (k *Kiosk) ShowGestures(g display.Gestures) {
	if g.Buttons == nil {
		g.Buttons = []display.GestureButton{}
	}
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	prev := k.gest
	if !gesturesChanged(prev.sent, g) && (now.Sub(prev.at) < gestureEvery || !gesturesMoved(prev.sent, g)) {
		return
	}
	b, err := json.Marshal(g)
	if err != nil { // plain strings and numbers: only NaN or Inf can fail
		k.log.Error("kiosk: encode gestures", "err", err)
		return
	}
	g.Buttons = append([]display.GestureButton(nil), g.Buttons...)
	k.gest = gestureState{sent: g, json: b, at: now}
	f := gestureFrame{data: b}
	for _, bt := range g.Buttons {
		f.fired = f.fired || bt.Fired
	}
	for sub := range k.subs {
		sub.pushGesture(f)
	}
}

// Gestures returns the air buttons' feedback sent last.
func (k *Kiosk) Gestures() display.Gestures {
	k.mu.Lock()
	defer k.mu.Unlock()
	g := k.gest.sent
	g.Buttons = append([]display.GestureButton{}, g.Buttons...)
	return g
}

// gesturesChanged says whether what shows differs between a and b: the buttons, a hold
// starting, ending or completing, a button firing (and the update after it, so that a page
// attaching later does not see the fire again).
func gesturesChanged(a, b display.Gestures) bool {
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

// gesturesMoved says whether a hold's progress or a button's box moved visibly between a and
// b (which have the same buttons).
func gesturesMoved(a, b display.Gestures) bool {
	for i, y := range b.Buttons {
		x := a.Buttons[i]
		if math.Abs(x.Progress-y.Progress) >= gestureStep {
			return true
		}
		for _, d := range []float64{x.Box.X - y.Box.X, x.Box.Y - y.Box.Y, x.Box.W - y.Box.W, x.Box.H - y.Box.H} {
			if math.Abs(d) >= gestureMove {
				return true
			}
		}
	}
	return false
}

// pushGesture queues f for the page, keeping the newest frame and an unsent one in which a
// button fired. Kiosk.mu must be held.
func (s *subscriber) pushGesture(f gestureFrame) {
	if n := len(s.gest); n > 0 && !s.gest[n-1].fired {
		s.gest = s.gest[:n-1] // superseded
	}
	if len(s.gest) >= 2 {
		s.gest = s.gest[1:]
	}
	s.gest = append(s.gest, f)
	select {
	case s.gestReady <- struct{}{}:
	default: // already signalled
	}
}

// takeGestures returns the frames queued for sub and empties its queue.
func (k *Kiosk) takeGestures(sub *subscriber) []gestureFrame {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := sub.gest
	sub.gest = nil
	return f
}
