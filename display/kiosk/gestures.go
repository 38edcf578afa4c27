package kiosk

import (
	"encoding/json"
	"time"

	"github.com/fitmirror/fitmirror/display"
)

// gestureState is the feedback last sent to the pages, throttled (display.GestureThrottle).
type gestureState struct {
	throttle display.GestureThrottle
	json     []byte // the feedback sent last, encoded
}

// gestureFrame is one encoded feedback event for a page.
type gestureFrame struct {
	data  []byte
	fired bool
}

// ShowGestures shows the air buttons on the open pages (and on pages that attach later): where
// they are in mirror coordinates and how far a hold has come (vision.HoldFeedback makes g). It
// throttles (display.GestureThrottle) and never blocks on a page. A page falling behind gets the newest
// feedback, and never misses a button firing. No buttons hides them.
func (k *Kiosk) ShowGestures(g display.Gestures) {
	if g.Buttons == nil {
		g.Buttons = []display.GestureButton{}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.gest.throttle.Take(g, time.Now()) {
		return
	}
	b, err := json.Marshal(g)
	if err != nil { // plain strings and numbers: only NaN or Inf can fail
		k.log.Error("kiosk: encode gestures", "err", err)
		return
	}
	k.gest.json = b
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
	return k.gest.throttle.Shown()
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
