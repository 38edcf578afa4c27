package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/fitmirror/fitmirror/session"
)

// health watches the agent's two loops — the camera pipeline (it beats on every frame, and
// at 5 Hz while it waits for a camera) and the session engine (it must answer a snapshot) —
// and the camera. It feeds systemd's watchdog only while both loops are alive, so a hung
// pipeline is restarted by systemd; /healthz reports the same.
type health struct {
	stallAfter time.Duration
	engine     *session.Engine
	cameraOK   func() bool
	storage    func() (bool, string) // nil = not watched
	log        *slog.Logger

	pipelineBeat atomic.Int64 // unix nanos
	engineBeat   atomic.Int64
	started      time.Time
}

// newHealth starts the clock; the pipeline beats it from its first frame, and watch names
// the engine and camera to check before run starts.
func newHealth(stallAfter time.Duration, log *slog.Logger) *health {
	h := &health{stallAfter: stallAfter, log: log, started: time.Now()}
	h.pipelineBeat.Store(h.started.UnixNano())
	h.engineBeat.Store(h.started.UnixNano())
	return h
}

// watch names the engine to probe and the camera to report.
func (h *health) watch(engine *session.Engine, cameraOK func() bool) {
	h.engine, h.cameraOK = engine, cameraOK
}

// beat marks the pipeline alive.
func (h *health) beat() { h.pipelineBeat.Store(time.Now().UnixNano()) }

// Status is the body of /healthz.
type Status struct {
	Status   string `json:"status"` // ok | degraded (events not recorded) | unhealthy
	Pipeline string `json:"pipeline"`
	Engine   string `json:"engine"`
	Camera   string `json:"camera"`           // ok | starting | lost
	Storage  string `json:"storage"`          // ok | failing: events cannot be recorded (full disk)
	Reason   string `json:"reason,omitempty"` // why storage is failing
	UptimeS  int64  `json:"uptime_s"`
}

func (h *health) status(now time.Time) Status {
	s := Status{Status: "ok", Pipeline: "ok", Engine: "ok", Camera: "ok", Storage: "ok", UptimeS: int64(now.Sub(h.started).Seconds())}
	if h.storage != nil {
		if ok, reason := h.storage(); !ok {
			s.Storage, s.Reason, s.Status = "failing", reason, "degraded"
		}
	}
	if now.Sub(time.Unix(0, h.pipelineBeat.Load())) > h.stallAfter {
		s.Pipeline, s.Status = "stalled", "unhealthy"
	}
	if now.Sub(time.Unix(0, h.engineBeat.Load())) > h.stallAfter {
		s.Engine, s.Status = "stalled", "unhealthy"
	}
	switch {
	case h.cameraOK():
	case now.Sub(h.started) < h.stallAfter:
		s.Camera = "starting" // the first frames are on their way
	default:
		s.Camera, s.Status = "lost", "unhealthy"
	}
	return s
}

// loopsAlive is what the watchdog checks: a lost camera is reported, not restarted (the
// pipeline reopens it by itself); a stalled loop is restarted.
func (h *health) loopsAlive(now time.Time) bool {
	s := h.status(now)
	return s.Pipeline == "ok" && s.Engine == "ok"
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.status(time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if s.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(s)
}

// run probes the engine and, under systemd, says READY=1 and pings WATCHDOG=1 at half the
// watchdog interval while the loops are alive.
func (h *health) run(ctx context.Context) error {
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		h.log.Warn("systemd watchdog settings unreadable", "err", err)
	}
	every := time.Second
	if wd > 0 && wd/2 < every {
		every = wd / 2
	}
	if sent, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		h.log.Warn("systemd notify", "err", err)
	} else if sent {
		h.log.Info("told systemd we are ready", "watchdog", wd)
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
		pctx, cancel := context.WithTimeout(ctx, every)
		if _, ok := h.engine.Snapshot(pctx); ok {
			h.engineBeat.Store(time.Now().UnixNano())
		}
		cancel()
		alive := h.loopsAlive(time.Now())
		if !alive && !stalled {
			h.log.Error("main loop stalled: no longer feeding the watchdog", "health", h.status(time.Now()))
		}
		stalled = !alive
		if alive && wd > 0 {
			daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}
}
