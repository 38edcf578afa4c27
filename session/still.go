package session

import (
	"time"
)

// The automatic photo waits for the shopper to hold still.

// trackStill follows the shopper's face for the automatic photo.
func (e *Engine) trackStill(o Observation) {
	if o.Faces == 0 {
		e.stillSince = time.Time{}
		return
	}
	ref, cur := e.stillRef, o.Primary
	if cur.Empty() && !ref.Empty() {
		cur = ref // a face without a position (another source) says nothing about movement
	}
	moved := cur.Empty() != ref.Empty()
	if !cur.Empty() && !ref.Empty() {
		c1 := ref.Min.Add(ref.Max).Div(2)
		c2 := cur.Min.Add(cur.Max).Div(2)
		d := c1.Sub(c2)
		limit := ref.Dx() / 5
		moved = d.X*d.X+d.Y*d.Y > limit*limit || abs(cur.Dx()-ref.Dx()) > limit
	}
	if moved || e.stillSince.IsZero() {
		e.stillRef, e.stillSince = cur, o.At
	}
	if e.st == stReady {
		e.maybeAutoCapture(o.At)
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (e *Engine) maybeAutoCapture(now time.Time) {
	if !e.cfg.AutoCapture || e.st != stReady || e.sess == nil || len(e.sess.photos) > 0 || e.stillSince.IsZero() {
		return
	}
	if now.Sub(e.stillSince) >= e.cfg.StillFor {
		e.startCountdown(now)
	}
}
