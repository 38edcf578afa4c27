package health

import (
	"context"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// Watch keeps a part's state from probes that say when it last worked (now, while it works;
// the zero time if it never did): the part is ok until none has worked for After, then it is
// Lost with Reason. Until a probe first works the part is starting, and it has After from the
// first check to do so. The display is watched this way (a kiosk page attached, or the
// framebuffer taking frames), and the broker (connected).
type Watch struct {
	Tracker *Tracker
	Part    string
	Probes  []func() time.Time
	After   time.Duration // how long with no probe succeeding before the part is lost
	Lost    string        // the state word then, e.g. "lost"
	Reason  string
	Every   time.Duration // how often Run checks; 0 means one second

	start time.Time
}

// Now makes a probe of something that can only say whether it works now (the broker's
// connection): it returns the time of the last call that found ok() true, so the part is lost
// After that call (within one check of the true moment).
func Now(ok func() bool) func() time.Time {
	var last time.Time
	return func() time.Time {
		if ok() {
			last = time.Now()
		}
		return last
	}
}

// Check probes once at now and sets the part. Run calls it; tests call it with their clock.
func (w *Watch) Check(now time.Time) {
	if w.start.IsZero() {
		w.start = now // the grace starts with the first check
	}
	var last time.Time
	for _, p := range w.Probes {
		if t := p(); t.After(last) {
			last = t
		}
	}
	switch {
	case !last.IsZero() && (!last.Before(now) || now.Sub(last) < w.After): // works, or within the grace
		w.Tracker.SetOK(w.Part)
	case last.IsZero() && now.Sub(w.start) < w.After:
		w.Tracker.Set(w.Part, wire.HealthStarting, "")
	default:
		w.Tracker.Set(w.Part, w.Lost, w.Reason)
	}
}

// Run checks every Every until ctx ends.
func (w *Watch) Run(ctx context.Context) error {
	every := w.Every
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	w.Check(w.Tracker.now())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.Check(w.Tracker.now())
		}
	}
}

// ClockFloor is the earliest time a set clock can show: a Raspberry Pi has no real-time
// clock and starts at its last saved time (or 1970) until NTP answers. Before it, QR codes
// would expire at once on the phone's clock and the photos' times are wrong.
var ClockFloor = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// ClockWatch registers the clock part and returns the watch that keeps it: unset while the
// clock reads before ClockFloor.
func ClockWatch(t *Tracker) *Watch {
	t.Register(wire.PartClock, Degraded, wire.HealthOK)
	return &Watch{Tracker: t, Part: wire.PartClock, Probes: []func() time.Time{func() time.Time {
		if now := t.now(); !now.Before(ClockFloor) {
			return now
		}
		return time.Time{}
	}},
		Lost: "unset", Reason: "the clock reads before " + ClockFloor.Format("2006-01-02") + ": no time from NTP yet (timedatectl status)", Every: 10 * time.Second}
}
