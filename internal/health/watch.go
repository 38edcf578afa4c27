package health

import (
	"context"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// Watch keeps a part's state from probes that say whether it works now: the part is ok while
// any probe says so, and after none has for After it is Lost with Reason. Until a probe first
// succeeds the part is starting, and it has After from the start to do so. The display is
// watched this way (a kiosk page attached, or the framebuffer taking frames).
type Watch struct {
	Tracker *Tracker
	Part    string
	Probes  []func() bool
	After   time.Duration // how long with no probe succeeding before the part is lost
	Lost    string        // the state word then, e.g. "lost"
	Reason  string
	Every   time.Duration // how often Run checks; 0 means one second

	lastOK time.Time
	seen   bool
}

// Check probes once at now and sets the part. Run calls it; tests call it with their clock.
func (w *Watch) Check(now time.Time) {
	if w.lastOK.IsZero() {
		w.lastOK = now // the grace starts with the first check
	}
	for _, p := range w.Probes {
		if p() {
			w.lastOK, w.seen = now, true
			w.Tracker.SetOK(w.Part)
			return
		}
	}
	switch {
	case now.Sub(w.lastOK) >= w.After:
		w.Tracker.Set(w.Part, w.Lost, w.Reason)
	case !w.seen:
		w.Tracker.Set(w.Part, wire.HealthStarting, "")
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
	return &Watch{Tracker: t, Part: wire.PartClock, Probes: []func() bool{func() bool { return !t.now().Before(ClockFloor) }},
		Lost: "unset", Reason: "the clock reads before " + ClockFloor.Format("2006-01-02") + ": no time from NTP yet (timedatectl status)", Every: 10 * time.Second}
}
