package health

import (
	"context"
	"slices"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// PowerWatch keeps the power part (wire.PartPower, Degraded) from the Raspberry Pi
// firmware's throttling flags: "undervoltage" while the supply is below 4.63 V now (the first
// cause of a mirror that freezes "randomly"), "throttled" while the SoC is throttled, its
// frequency capped or its soft temperature limit active, ok otherwise.
type PowerWatch struct {
	Tracker *Tracker
	// Read returns the flags now.
	Read func() (wire.Throttled, error)
	// Every is how often Run reads them; 0 means 5 s.
	Every time.Duration
}

// WatchPower registers the power part and returns its watch where read works now; elsewhere
// (not a Raspberry Pi) it registers nothing and returns nil.
func WatchPower(t *Tracker, read func() (wire.Throttled, error)) *PowerWatch {
	if _, err := read(); err != nil {
		return nil
	}
	t.Register(wire.PartPower, Degraded, wire.HealthOK)
	w := &PowerWatch{Tracker: t, Read: read}
	w.Check()
	return w
}

// Check reads the flags once and sets the part. A read that fails leaves the part as it was.
func (w *PowerWatch) Check() {
	th, err := w.Read()
	switch {
	case err != nil:
	case th.Has("under-voltage"):
		w.Tracker.Set(wire.PartPower, "undervoltage", "undervoltage (throttled="+th.Flags+
			"): the supply sags below 4.63 V; use the official 5 V supply (5.1 V, 3 A for a Pi 4, 5 A for a Pi 5) and its cable")
	case th.Has("throttled") || th.Has("freq-capped") || th.Has("soft-temp-limit"):
		why := ": the SoC is hot; give it a heatsink and airflow behind the glass"
		if slices.Contains(th.Occurred, "under-voltage") && !th.Has("soft-temp-limit") {
			why = ": after an under-voltage; use the official 5 V supply and its cable"
		}
		w.Tracker.Set(wire.PartPower, "throttled", th.String()+why)
	default:
		w.Tracker.SetOK(wire.PartPower)
	}
}

// Run checks every Every until ctx ends.
func (w *PowerWatch) Run(ctx context.Context) error {
	every := w.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.Check()
		}
	}
}
