package hardware

import (
	"context"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Gesture is what a button did.
type Gesture int

const (
	// Press is a short press and release (reported on release, or after the double-press
	// window when the button detects double presses).
	Press Gesture = iota + 1
	// DoublePress is two presses within the double-press window.
	DoublePress
	// LongPress is a button held for the long-press time (reported while still held).
	LongPress
)

func (g Gesture) String() string {
	switch g {
	case Press:
		return "press"
	case DoublePress:
		return "double-press"
	case LongPress:
		return "long-press"
	}
	return "gesture(?)"
}

// Button names.
const (
	ButtonCapture = "capture"
	ButtonCompare = "compare"
	ButtonStaff   = "staff"
)

// ButtonEvent is one gesture of one button.
type ButtonEvent struct {
	Button  string    // ButtonCapture, ButtonCompare or ButtonStaff
	Gesture Gesture   //
	At      time.Time // when the gesture completed
}

// Action is what the agent does for a button event.
type Action string

// Actions. The agent maps them to session.Engine.Trigger(ctx, "button"), Engine.Compare and a
// staff.called event.
const (
	ActionNone    Action = ""
	ActionCapture Action = "capture"
	ActionCompare Action = "compare"
	ActionStaff   Action = "staff"
)

// Action maps an event to what the agent should do: capture press → capture, capture double
// press → compare (one-button installs can compare too), compare press → compare, staff press
// or long press → staff. Other gestures do nothing.
func (e ButtonEvent) Action() Action {
	switch {
	case e.Button == ButtonCapture && e.Gesture == Press:
		return ActionCapture
	case e.Button == ButtonCapture && e.Gesture == DoublePress, e.Button == ButtonCompare && e.Gesture == Press:
		return ActionCompare
	case e.Button == ButtonStaff && (e.Gesture == Press || e.Gesture == LongPress):
		return ActionStaff
	}
	return ActionNone
}

// gestures turns samples of one button's level into gestures: the level must hold for
// debounce to count; a press held for long is a LongPress; with double > 0 a second press
// within double of the first release is a DoublePress and a lone press is reported when the
// window closes. It is pure: time comes in with the samples.
type gestures struct {
	name                   string
	active                 gpio.Level // level while pressed
	debounce, long, double time.Duration

	raw       gpio.Level // last sampled level
	rawAt     time.Time  // when raw was first seen
	pressed   bool       // debounced state
	pressedAt time.Time
	longDone  bool      // the current press already fired LongPress
	clicks    int       // presses released and waiting for the double-press window
	clickEnd  time.Time // end of the double-press window
}

func newGestures(name string, active gpio.Level, debounce, long, double time.Duration) *gestures {
	return &gestures{name: name, active: active, raw: !active, debounce: debounce, long: long, double: double}
}

// next is the earliest pending deadline, or the zero time.
func (g *gestures) next() time.Time {
	var t time.Time
	earlier := func(d time.Time) {
		if t.IsZero() || d.Before(t) {
			t = d
		}
	}
	if (g.raw == g.active) != g.pressed {
		earlier(g.rawAt.Add(g.debounce))
	}
	if g.pressed && !g.longDone {
		earlier(g.pressedAt.Add(g.long))
	}
	// The window closes unless a second press began inside it and is still settling.
	if !g.pressed && g.clicks > 0 && !(g.raw == g.active && g.rawAt.Before(g.clickEnd)) {
		earlier(g.clickEnd)
	}
	return t
}

// sample feeds the level seen at now and returns the gestures completed up to now.
func (g *gestures) sample(l gpio.Level, now time.Time) []ButtonEvent {
	evs := g.advance(now)
	if l != g.raw {
		g.raw, g.rawAt = l, now
	}
	return append(evs, g.advance(now)...)
}

// advance handles every deadline up to now, in order.
func (g *gestures) advance(now time.Time) []ButtonEvent {
	var evs []ButtonEvent
	emit := func(gs Gesture, at time.Time) {
		evs = append(evs, ButtonEvent{Button: g.name, Gesture: gs, At: at})
	}
	for {
		d := g.next()
		if d.IsZero() || d.After(now) {
			return evs
		}
		switch {
		case (g.raw == g.active) != g.pressed && d.Equal(g.rawAt.Add(g.debounce)):
			g.pressed = !g.pressed
			if g.pressed {
				g.pressedAt, g.longDone = g.rawAt, false
				continue
			}
			if g.longDone {
				continue
			}
			if g.double <= 0 {
				emit(Press, d)
				continue
			}
			g.clicks++
			if g.clicks == 2 {
				g.clicks = 0
				emit(DoublePress, d)
				continue
			}
			g.clickEnd = g.rawAt.Add(g.double)
		case g.pressed && !g.longDone && d.Equal(g.pressedAt.Add(g.long)):
			g.longDone = true
			if g.clicks > 0 { // a click, then press and hold: both count
				g.clicks = 0
				emit(Press, d)
			}
			emit(LongPress, d)
		default: // the double-press window closed on a single click
			g.clicks = 0
			emit(Press, d)
		}
	}
}

// pollEvery bounds how long an input waits for an edge before it checks ctx and samples the
// level anyway (an edge lost by the kernel is caught by the next sample).
const pollEvery = 250 * time.Millisecond

// watch samples pin on every edge, at each pending deadline and at least every pollEvery,
// until ctx ends. next returns the input's earliest deadline (zero if none).
func watch(ctx context.Context, pin gpio.PinIn, sample func(gpio.Level, time.Time), next func() time.Time) {
	for ctx.Err() == nil {
		wait := pollEvery
		if d := next(); !d.IsZero() {
			wait = min(wait, max(time.Until(d), time.Millisecond))
		}
		pin.WaitForEdge(wait)
		sample(pin.Read(), time.Now())
	}
}
