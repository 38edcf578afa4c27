package health

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// Watchdog watches the agent's loops — the camera loop beats on every frame, the session
// engine must answer a probe — and marks a loop that has been silent for StallAfter
// "stalled" (Unhealthy) in the tracker. Under systemd it says READY=1 and feeds the watchdog
// (WATCHDOG=1 at half its interval) only while every loop is alive, so a hung loop is
// restarted by systemd; a lost camera is reported, not restarted (the pipeline reopens it).
type Watchdog struct {
	tracker    *Tracker
	stallAfter time.Duration
	log        *slog.Logger

	mu     sync.Mutex
	loops  map[string]*atomic.Int64 // part → last beat, unix nanos
	probes map[string]func(context.Context) bool
}

// NewWatchdog returns a watchdog over tracker's loops.
func NewWatchdog(tracker *Tracker, stallAfter time.Duration, log *slog.Logger) *Watchdog {
	if log == nil {
		log = slog.Default()
	}
	return &Watchdog{tracker: tracker, stallAfter: stallAfter, log: log,
		loops: map[string]*atomic.Int64{}, probes: map[string]func(context.Context) bool{}}
}

// Loop registers a loop part that beats by itself and returns its beat. Call it before Run.
func (w *Watchdog) Loop(part string) (beat func()) {
	last := &atomic.Int64{}
	last.Store(w.tracker.now().UnixNano())
	w.mu.Lock()
	w.loops[part] = last
	w.mu.Unlock()
	w.tracker.Register(part, Unhealthy, wire.HealthOK)
	return func() { last.Store(w.tracker.now().UnixNano()) }
}

// Probe registers a loop part that Run asks, once a tick, whether it answers (the engine
// answers a snapshot): each answer is a beat. Call it before Run.
func (w *Watchdog) Probe(part string, answers func(context.Context) bool) {
	beat := w.Loop(part)
	w.mu.Lock()
	w.probes[part] = func(ctx context.Context) bool {
		if answers(ctx) {
			beat()
			return true
		}
		return false
	}
	w.mu.Unlock()
}

// Check marks each loop ok or stalled at now and reports whether all are alive.
func (w *Watchdog) Check(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	alive := true
	for part, last := range w.loops {
		silent := now.Sub(time.Unix(0, last.Load()))
		if silent > w.stallAfter {
			alive = false
			w.tracker.Set(part, "stalled", "silent for "+silent.Truncate(time.Second).String())
			continue
		}
		w.tracker.SetOK(part)
	}
	return alive
}

// Run probes the loops every second (or at half systemd's watchdog interval when shorter)
// until ctx ends.
func (w *Watchdog) Run(ctx context.Context) error {
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		w.log.Warn("systemd watchdog settings unreadable", "err", err)
	}
	every := time.Second
	if wd > 0 && wd/2 < every {
		every = wd / 2
	}
	if sent, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		w.log.Warn("systemd notify", "err", err)
	} else if sent {
		w.log.Info("told systemd we are ready", "watchdog", wd)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	stalled := false
	for {
		select {
		case <-ctx.Done():
			daemon.SdNotify(false, daemon.SdNotifyStopping)
			return nil
		case <-t.C:
		}
		w.mu.Lock()
		probes := make([]func(context.Context) bool, 0, len(w.probes))
		for _, p := range w.probes {
			probes = append(probes, p)
		}
		w.mu.Unlock()
		for _, p := range probes {
			pctx, cancel := context.WithTimeout(ctx, every)
			p(pctx)
			cancel()
		}
		alive := w.Check(w.tracker.now())
		if !alive && !stalled {
			w.log.Error("main loop stalled: no longer feeding the watchdog", "health", w.tracker.Report().Reason())
		}
		stalled = !alive
		if alive && wd > 0 {
			daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}
}
