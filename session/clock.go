package session

import (
	"sync"
	"time"
)

// Clock is the engine's time: the time of every event and when each timeout comes. The agent
// runs on the wall clock (Options.Clock nil); `mirror-agent replay` runs the same engine on a
// ManualClock that it sets to the media time of each frame it processes.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock has reached t, and stop, which
	// releases it (the channel then may never receive).
	At(t time.Time) (c <-chan time.Time, stop func())
}

// WallClock is the real time.
type WallClock struct{}

// Now is time.Now.
func (WallClock) Now() time.Time { return time.Now() }

// At is a time.Timer for t.
func (WallClock) At(t time.Time) (<-chan time.Time, func()) {
	tm := time.NewTimer(time.Until(t))
	return tm.C, func() { tm.Stop() }
}

// ManualClock moves only when it is set: replay sets it to the media time of each frame, so
// the engine's timeouts come as media time passes, whatever the speed of the machine. It is
// safe for concurrent use.
type ManualClock struct {
	mu    sync.Mutex
	now   time.Time
	waits map[*manualWait]struct{}
}

type manualWait struct {
	at time.Time
	c  chan time.Time
}

// NewManualClock returns a clock standing at t.
func NewManualClock(t time.Time) *ManualClock {
	return &ManualClock{now: t, waits: map[*manualWait]struct{}{}}
}

// Now is the time the clock was last set to.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t and wakes the waits that are due. A clock never goes back: a t
// before the clock's time is ignored.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.now) {
		return
	}
	c.now = t
	for w := range c.waits {
		if !t.Before(w.at) {
			w.c <- t // buffered: each wait receives once
			delete(c.waits, w)
		}
	}
}

// At returns a channel that receives when the clock is set to t or later (at once when it is
// there already).
func (c *ManualClock) At(t time.Time) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &manualWait{at: t, c: make(chan time.Time, 1)}
	if !c.now.Before(t) {
		w.c <- c.now
		return w.c, func() {}
	}
	c.waits[w] = struct{}{}
	return w.c, func() {
		c.mu.Lock()
		delete(c.waits, w)
		c.mu.Unlock()
	}
}
